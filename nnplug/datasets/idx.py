"""Reading IDX files, the format of MNIST and its relatives.

An IDX file starts with two zero bytes, a type code and the number of dimensions,
then one big-endian uint32 per dimension, then the values in C order.

Files are streamed: the header is read (and decompressed) first, the size it declares is
checked against a limit and against what the file can hold, and then exactly that many
bytes are decompressed into the array, so a gzip bomb costs no more than a genuine file.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from math import prod
from typing import Any

import numpy as np

from nnplug.regular_files import Reader, open_regular, read_exactly, read_into

from .errors import DatasetError

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
MAX_IDX_BYTES = 1 << 31  # 2 GiB of values; MNIST's largest file holds 47 MB
MAX_FILE_BYTES = 1 << 31
# Deflate expands at most about 1032:1, so a gzip file of n bytes cannot hold more.
_DEFLATE_MAX_RATIO = 1032
_TRAILING_SHOWN = 1 << 20  # trailing bytes counted exactly up to this many


class Hashes:
    """Hash objects to feed while reading: of the decompressed IDX bytes, of the file; and
    whether the file turned out to be gzip-compressed."""

    def __init__(self, payload: Any = None, archive: Any = None) -> None:
        self.payload, self.archive = payload, archive
        self.compressed = False


def load_idx(
    source: str | os.PathLike[str] | bytes, *, max_bytes: int = MAX_IDX_BYTES
) -> np.ndarray:
    """Return the array stored in an IDX file, gzip-compressed or not.

    `source` is a path (of a regular file) or the file's bytes. Values come back in native
    byte order; the array is read-only. A file declaring more than `max_bytes` of values
    is refused before anything is decompressed. Raises DatasetError, naming the file, if
    it is corrupt or not exactly one well-formed IDX array.
    """
    if isinstance(source, bytes):
        return read_idx(io.BytesIO(source), len(source), "<bytes>", max_bytes=max_bytes)
    return read_idx_path(source, os.fspath(source), max_bytes=max_bytes)


def read_idx_path(
    path: str | os.PathLike[str],
    name: str,
    *,
    hashes: Hashes | None = None,
    require_gzip: bool = False,
    max_bytes: int = MAX_IDX_BYTES,
) -> np.ndarray:
    """Return the array in the IDX file at `path`, feeding `hashes`; `name` is used in errors."""
    file, size = open_regular(
        path,
        what="IDX file",
        max_bytes=MAX_FILE_BYTES,
        error=DatasetError,
    )
    with file:
        return read_idx(
            file, size, name, hashes=hashes, require_gzip=require_gzip, max_bytes=max_bytes
        )


def read_idx(
    file: Reader,
    size: int,
    name: str,
    *,
    hashes: Hashes | None = None,
    require_gzip: bool = False,
    max_bytes: int = MAX_IDX_BYTES,
) -> np.ndarray:
    """Return the array in the IDX stream `file` of `size` bytes (gzip or not)."""
    hashes = hashes or Hashes()
    raw: Reader = _Hashing(file, hashes.archive) if hashes.archive is not None else file
    start = raw.read(2)
    if require_gzip and start != GZIP_MAGIC:
        raise DatasetError(f"{name}: not a gzip file; {describe_start(start + raw.read(14))}")
    compressed = hashes.compressed = start == GZIP_MAGIC
    stream: Reader = (
        _GzipErrors(gzip.GzipFile(fileobj=_Prefixed(start, raw), mode="rb"), name)
        if compressed
        else _Prefixed(start, raw)
    )
    reader: Reader = _Hashing(stream, hashes.payload) if hashes.payload is not None else stream
    dtype, shape = _read_header(reader, name)
    header_size = 4 + 4 * len(shape)
    count = prod(shape)
    expected = count * dtype.itemsize
    if expected > max_bytes:
        raise DatasetError(
            f"{name}: the IDX header declares {shape} {dtype.name} values ({expected} bytes), "
            f"over the limit of {max_bytes} bytes"
        )
    if compressed and expected > _DEFLATE_MAX_RATIO * size + 1024:
        raise DatasetError(
            f"{name}: the IDX header declares {expected} bytes of data, more than a gzip "
            f"file of {size} bytes can hold (truncated?)"
        )
    if not compressed and expected != size - header_size:
        raise DatasetError(_size_message(name, shape, dtype, expected, size - header_size))
    array = np.empty(count, dtype=dtype)
    found = read_into(reader, array.data.cast("B")) if expected else 0
    if found < expected:
        raise DatasetError(_size_message(name, shape, dtype, expected, found))
    trailing = _count_rest(reader)
    if trailing:
        raise DatasetError(_size_message(name, shape, dtype, expected, expected + trailing))
    if hashes.archive is not None:
        _count_rest(raw)  # the archive hash covers the whole file
    array = array.reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    array.flags.writeable = False
    return array


def is_gzip(data: bytes) -> bool:
    """Whether `data` starts like a gzip stream."""
    return data[:2] == GZIP_MAGIC


def describe_start(data: bytes) -> str:
    """Show how `data` begins, recognising the usual impostor, an HTML page."""
    shown = f"it starts with {data[:16]!r}"
    if data.lstrip()[:1] == b"<":
        return f"{shown}: an HTML page, not the data file?"
    return shown


def _read_header(stream: Reader, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    magic = read_exactly(stream, 4)
    if len(magic) < 4:
        raise DatasetError(f"{name}: {len(magic)} bytes is too short for an IDX file")
    if magic[:2] != b"\0\0":
        raise DatasetError(
            f"{name}: not an IDX file (which starts with two zero bytes); "
            + describe_start(magic + read_exactly(stream, 12))
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} {t.name}" for c, t in IDX_TYPES.items())
        raise DatasetError(f"{name}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DatasetError(f"{name}: the IDX header declares 0 dimensions")
    dims = read_exactly(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise DatasetError(
            f"{name}: IDX header truncated: {ndim} dimensions need {4 + 4 * ndim} "
            f"header bytes, found {4 + len(dims)}"
        )
    return IDX_TYPES[code], struct.unpack(f">{ndim}I", dims)


def _count_rest(stream: Reader) -> int:
    """Read what is left of `stream`, a chunk at a time; return how many bytes (capped)."""
    total = 0
    while total <= _TRAILING_SHOWN and (chunk := stream.read(1 << 16)):
        total += len(chunk)
    return total


def _size_message(
    name: str, shape: tuple[int, ...], dtype: np.dtype, expected: int, found: int
) -> str:
    what = f"{name}: expected {expected} bytes of data for {shape} {dtype.name} values"
    if found < expected:
        return f"{what}, found {found} (truncated?)"
    more = "more than " if found - expected > _TRAILING_SHOWN else ""
    return f"{what}, found {more}{found} ({more}{found - expected} trailing bytes)"


class _Prefixed(io.RawIOBase):
    """`prefix` (bytes already read), then the rest of `stream`."""

    def __init__(self, prefix: bytes, stream: Reader) -> None:
        self.prefix, self.stream = prefix, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.prefix:
            count = min(len(self.prefix), len(view))
            view[:count] = self.prefix[:count]
            self.prefix = self.prefix[count:]
            return count
        data = self.stream.read(len(view))
        view[: len(data)] = data
        return len(data)


class _Hashing(io.RawIOBase):
    """Reads `stream`, feeding `digest` everything read."""

    def __init__(self, stream: Reader, digest: Any) -> None:
        self.stream, self.digest = stream, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = self.stream.readinto(view)
        if count:
            self.digest.update(view[:count])
        return count or 0


class _GzipErrors(io.RawIOBase):
    """A gzip stream whose corruption errors become DatasetErrors naming the file."""

    def __init__(self, stream: gzip.GzipFile, name: str) -> None:
        self.stream, self.name = stream, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self.stream.readinto(buffer)
        except (OSError, EOFError, zlib.error) as err:
            raise DatasetError(
                f"{self.name}: corrupt gzip data ({err}); the file is damaged or incomplete"
            ) from err
