"""Saving and loading models: ``save(model, path)`` and ``load(path)``, one file, no pickle.

A model file is, in order::

    MAGIC                 8 bytes, b"\\x89NNP\\r\\n\\x1a\\n"
    format version        uint32, little-endian
    header length         uint64, little-endian
    payload length        uint64, little-endian
    header                UTF-8 JSON: the model's spec, the plugin behind each component,
                          and the dtype and shape of every parameter
    payload               the parameters' raw little-endian bytes, in ``parameters()`` order
    SHA-256               32 bytes, of everything before it

Loading checks all of it before building anything, so a truncated, modified or foreign file
is rejected with a ModelFileError saying what is wrong. Nothing in a file is ever executed.
Saving writes a temporary file next to the target and renames it into place, so a failed
save leaves any previous file at that path as it was.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import secrets
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nnplug import errors, registry
from nnplug.modules.module import Module
from nnplug.modules.sequential import Sequential
from nnplug.spec import CHILDREN, ROOT, SpecError, build, spec_of

__all__ = ["FORMAT_VERSION", "MAGIC", "load", "save"]

MAGIC = b"\x89NNP\r\n\x1a\n"  # PNG-style: a non-ASCII byte and line endings catch text-mode copies
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<IQQ")  # format version, header length, payload length
_DIGEST_SIZE = hashlib.sha256().digest_size
_ARRAY_KINDS = "biuf"  # booleans, integers, floats: never objects
_ArrayLayout = tuple[np.dtype, tuple[int, ...]]


def save(model: Module, path: str | os.PathLike[str]) -> None:
    """Write ``model`` (its spec, its plugins and its parameters) to ``path``, atomically."""
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a Module, got {type(model).__name__}")
    spec = spec_of(model)
    arrays = [_little_endian(param) for param in model.parameters()]
    header = {
        "spec": spec,
        "components": _components(spec),
        "arrays": [{"dtype": array.dtype.str, "shape": list(array.shape)} for array in arrays],
        "nnplug_version": _nnplug_version(),
    }
    header_bytes = json.dumps(header, sort_keys=True, allow_nan=False).encode("utf-8")
    payload_length = sum(array.nbytes for array in arrays)
    with _atomic_file(Path(path)) as file:
        writer = _HashingWriter(file)
        writer.write(MAGIC)
        writer.write(_PREAMBLE.pack(FORMAT_VERSION, len(header_bytes), payload_length))
        writer.write(header_bytes)
        for array in arrays:
            writer.write(array.tobytes())
        file.write(writer.digest.digest())


def load(path: str | os.PathLike[str]) -> Module:
    """Rebuild the model saved at ``path``.

    Raises ModelFileError for a missing, truncated, modified or foreign file, and
    UnknownLayerError, naming the plugin that provided it, for a layer not installed here.
    """
    path = Path(path)
    header, arrays, payload = _read(path)
    try:
        _check_installed(path, header)
        model = build(header["spec"])
    except RecursionError:
        raise errors.ModelFileError(f"{path}: the saved model is nested too deeply") from None
    except MemoryError:
        raise errors.ModelFileError(f"{path}: the saved model is too large to build") from None
    except SpecError as error:
        raise errors.ModelFileError(
            f"{path}: the saved model cannot be rebuilt with the components installed here: "
            f"{error}{_version_notes(header)}"
        ) from error
    _load_parameters(path, model, arrays, payload)
    return model


# --- writing ----------------------------------------------------------------------------------


class _HashingWriter:
    """Writes to a file and keeps the SHA-256 of everything written."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.file.write(data)


@contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` only once fully written and synced to disk.

    On any error the temporary file is removed and ``path`` is left untouched.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never write through a file or link someone else put there. Mode 0o666 lets the
    # umask decide the permissions, as for any new file.
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT, "cannot save the model: no such directory", str(path.parent)
        ) from None
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories can't be opened)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _little_endian(param: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(param)
    if array.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(f"save: parameters must be numeric arrays, got dtype {array.dtype}")
    return array.astype(array.dtype.newbyteorder("<"), copy=False)


def _components(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The plugin behind each layer the spec names, so a load can say what to install."""
    names = sorted({name for _, name in _layer_names(spec, ROOT)})
    components = []
    for name in names:
        plugin = registry.layers.provider(name)
        components.append(
            {
                "kind": "layer",
                "name": name,
                "plugin": plugin.name,
                "distribution": plugin.distribution,
                "version": plugin.version,
            }
        )
    return components


def _layer_names(spec: object, path: str) -> Iterator[tuple[str, str]]:
    """Yield ``(path, layer name)`` for every component of a (well-formed) spec."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        return
    yield path, spec["type"]
    children = spec.get(CHILDREN)
    if isinstance(children, list):
        for index, child in enumerate(children):
            yield from _layer_names(child, f"{path}.{CHILDREN}[{index}]")


def _nnplug_version() -> str:
    from nnplug import __version__

    return __version__


# --- reading ----------------------------------------------------------------------------------


def _read(path: Path) -> tuple[dict[str, Any], list[_ArrayLayout], bytes]:
    """Return the checked header, array layouts and payload of the model file at ``path``."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise errors.ModelFileError(f"{path}: cannot read the model file: {error}") from error
    if not data:
        raise errors.ModelFileError(f"{path}: the file is empty, not an nnplug model")
    if MAGIC.startswith(data):
        raise _truncated(path, len(data), len(MAGIC) + _PREAMBLE.size + _DIGEST_SIZE)
    if not data.startswith(MAGIC):
        raise errors.ModelFileError(
            f"{path}: not an nnplug model file (it starts with {data[:8]!r}, "
            f"model files start with {MAGIC!r})"
        )
    start = len(MAGIC) + _PREAMBLE.size
    if len(data) < start:
        raise _truncated(path, len(data), start + _DIGEST_SIZE)
    version, header_length, payload_length = _PREAMBLE.unpack_from(data, len(MAGIC))
    if version != FORMAT_VERSION:
        newer = " (saved by a newer nnplug?)" if version > FORMAT_VERSION else ""
        raise errors.ModelFileError(
            f"{path}: model file format {version}, but this nnplug reads format "
            f"{FORMAT_VERSION}{newer}"
        )
    end = start + header_length + payload_length
    if len(data) < end + _DIGEST_SIZE:
        raise _truncated(path, len(data), end + _DIGEST_SIZE)
    if len(data) > end + _DIGEST_SIZE:
        raise errors.ModelFileError(
            f"{path}: {len(data) - end - _DIGEST_SIZE} unexpected bytes after the end of the model"
        )
    if hashlib.sha256(data[:end]).digest() != data[end:]:
        raise errors.ModelFileError(
            f"{path}: the SHA-256 checksum does not match: the file was modified or "
            f"damaged after it was saved"
        )
    header, arrays = _parse_header(path, data[start : start + header_length])
    return header, arrays, data[start + header_length : end]


def _truncated(path: Path, size: int, expected: int) -> errors.ModelFileError:
    return errors.ModelFileError(
        f"{path}: the file is truncated: {size} bytes, a complete model file has {expected}"
    )


def _parse_header(path: Path, raw: bytes) -> tuple[dict[str, Any], list[_ArrayLayout]]:
    def malformed(what: str) -> errors.ModelFileError:
        return errors.ModelFileError(f"{path}: malformed model header: {what}")

    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise malformed(str(error) or "nested too deeply") from None
    if not isinstance(header, dict):
        raise malformed(f"expected a JSON object, got {type(header).__name__}")
    expected = {"spec": dict, "components": list, "arrays": list}
    for key, kind in expected.items():
        if not isinstance(header.get(key), kind):
            raise malformed(f"{key!r} must be a JSON {kind.__name__}, got {header.get(key)!r}")
    arrays = [_array_entry(entry, i, malformed) for i, entry in enumerate(header["arrays"])]
    return header, arrays


def _array_entry(
    entry: object, index: int, malformed: Callable[[str], errors.ModelFileError]
) -> _ArrayLayout:
    if not isinstance(entry, dict):
        raise malformed(f"arrays[{index}] must be an object, got {entry!r}")
    try:
        dtype = np.dtype(entry.get("dtype"))
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in _ARRAY_KINDS or dtype.str != entry.get("dtype"):
        raise malformed(f"arrays[{index}] has dtype {entry.get('dtype')!r}, not a numeric dtype")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise malformed(f"arrays[{index}] has shape {shape!r}, not a list of sizes")
    return dtype, tuple(shape)


def _check_installed(path: Path, header: dict[str, Any]) -> None:
    """Raise UnknownLayerError, naming the plugin it came from, for a layer not installed."""
    saved_by = {
        c.get("name"): c for c in header["components"] if isinstance(c, dict) and c.get("name")
    }
    for where, name in _layer_names(header["spec"], ROOT):
        if name in registry.layers:
            continue
        origin = ""
        if name in saved_by:
            saved = saved_by[name]
            package = f"{saved.get('distribution')} {saved.get('version')}"
            origin = f"; it was provided by plugin {saved.get('plugin')!r} ({package}) when saved"
        raise errors.UnknownLayerError(
            f"{path}: the model needs layer {name!r} (at {where}), which is not installed"
            f"{origin}. Installed layers: {', '.join(registry.layers) or 'none'}."
        )


def _version_notes(header: dict[str, Any]) -> str:
    """Say which plugins changed version since the model was saved (a likely cause)."""
    notes = []
    for component in header["components"]:
        name = component.get("name") if isinstance(component, dict) else None
        if not isinstance(name, str) or name not in registry.layers:
            continue
        installed = registry.layers.provider(name)
        if component.get("version") != installed.version:
            notes.append(
                f"layer {name!r} was saved with {component.get('distribution')} "
                f"{component.get('version')}, {installed.distribution} {installed.version} "
                f"is installed"
            )
    return f" ({'; '.join(notes)})" if notes else ""


def _load_parameters(
    path: Path, model: Module, entries: list[_ArrayLayout], payload: bytes
) -> None:
    params = list(_named_parameters(model, ROOT))
    if len(params) != len(entries):
        raise errors.ModelFileError(
            f"{path}: the file holds {len(entries)} parameter arrays, but the model built from "
            f"its spec has {len(params)}"
        )
    sizes = [dtype.itemsize * math.prod(shape) for dtype, shape in entries]
    if sum(sizes) != len(payload):
        raise errors.ModelFileError(
            f"{path}: the parameters take {sum(sizes)} bytes, but the file holds {len(payload)}"
        )
    offset = 0
    for (name, param), (dtype, shape), size in zip(params, entries, sizes, strict=True):
        if param.shape != shape or param.dtype.newbyteorder("<") != dtype:
            raise errors.ModelFileError(
                f"{path}: {name} is {param.dtype}{list(param.shape)} in the rebuilt model, "
                f"but {dtype}{list(shape)} in the file"
            )
        param[...] = np.frombuffer(payload, dtype, count=param.size, offset=offset).reshape(shape)
        offset += size


def _named_parameters(module: Module, path: str) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(description, array)`` for ``module.parameters()``, in order."""
    if isinstance(module, Sequential) and type(module).parameters is Sequential.parameters:
        for index, child in enumerate(module):
            yield from _named_parameters(child, f"{path}.{CHILDREN}[{index}]")
        return
    for index, param in enumerate(module.parameters()):
        yield f"parameter {index} of {type(module).__name__} at {path}", param
