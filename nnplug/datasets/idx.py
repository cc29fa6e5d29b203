"""Reading IDX files, the format of MNIST and its relatives.

An IDX file starts with two zero bytes, a type code and the number of dimensions,
then one big-endian uint32 per dimension, then the values in C order.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from math import prod

import numpy as np

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


def load_idx(source: str | os.PathLike[str] | bytes) -> np.ndarray:
    """Return the array stored in an IDX file, gzip-compressed or not.

    `source` is a path or the file's bytes. Values come back in native byte order;
    uint8 data is a read-only view of the file's bytes. Raises DatasetError, naming
    the file, if it is corrupt or not exactly one well-formed IDX array.
    """
    if isinstance(source, bytes):
        data, name = source, "<bytes>"
    else:
        name = os.fspath(source)
        with open(source, "rb") as file:
            data = file.read()
    return parse_idx(decompress(data, name), name)


def is_gzip(data: bytes) -> bool:
    """Whether `data` starts like a gzip stream."""
    return data[:2] == GZIP_MAGIC


def decompress(data: bytes, name: str) -> bytes:
    """Return `data` decompressed if it is gzip-compressed, else `data` itself."""
    if not is_gzip(data):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(
            f"{name}: corrupt gzip data ({err}); the file is damaged or incomplete"
        ) from err


def describe_start(data: bytes) -> str:
    """Show how `data` begins, recognising the usual impostor, an HTML page."""
    shown = f"it starts with {data[:16]!r}"
    if data.lstrip()[:1] == b"<":
        return f"{shown}: an HTML page, not the data file?"
    return shown


def parse_idx(payload: bytes, name: str = "<bytes>") -> np.ndarray:
    """Return the array held by uncompressed IDX bytes; `name` is used in errors."""
    dtype, ndim = _parse_magic(payload, name)
    shape = _parse_dims(payload, ndim, name)
    offset = 4 + 4 * ndim
    count = prod(shape)
    expected, found = count * dtype.itemsize, len(payload) - offset
    if found != expected:
        raise DatasetError(_size_message(name, shape, dtype, expected, found))
    array = np.frombuffer(payload, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _parse_magic(payload: bytes, name: str) -> tuple[np.dtype, int]:
    if len(payload) < 4:
        raise DatasetError(f"{name}: {len(payload)} bytes is too short for an IDX file")
    if payload[:2] != b"\0\0":
        raise DatasetError(
            f"{name}: not an IDX file (which starts with two zero bytes); "
            + describe_start(payload)
        )
    code, ndim = payload[2], payload[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} {t.name}" for c, t in IDX_TYPES.items())
        raise DatasetError(f"{name}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DatasetError(f"{name}: the IDX header declares 0 dimensions")
    return IDX_TYPES[code], ndim


def _parse_dims(payload: bytes, ndim: int, name: str) -> tuple[int, ...]:
    header_size = 4 + 4 * ndim
    if len(payload) < header_size:
        raise DatasetError(
            f"{name}: IDX header truncated: {ndim} dimensions need {header_size} "
            f"header bytes, found {len(payload)}"
        )
    return struct.unpack_from(f">{ndim}I", payload, 4)


def _size_message(
    name: str, shape: tuple[int, ...], dtype: np.dtype, expected: int, found: int
) -> str:
    what = f"{name}: expected {expected} bytes of data for {shape} {dtype.name} values"
    if found < expected:
        return f"{what}, found {found} (truncated?)"
    return f"{what}, found {found} ({found - expected} trailing bytes)"
