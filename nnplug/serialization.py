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

Loading reads only a regular file of bounded size, front to back, once. It checks the
preamble's lengths against the file's size, the header's array sizes against the payload's
length and each layer's parameters against the header's arrays before the layer is built
(before anything is built when every layer is a built-in; right after a plugin layer is
built otherwise), builds layers with zeros instead of random weights, reads the payload
straight into their parameters and checks the SHA-256 at the end. A truncated, modified
or foreign file is rejected with a ModelFileError saying what is wrong; nothing in a file
is ever executed. Saving writes a temporary file next to the target and renames it into
place, so a failed save leaves any previous file at that path as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nnplug import errors, plugins, registry
from nnplug.atomic_files import atomic_file, name_limit
from nnplug.checked_build import ArrayLayout, build_checked
from nnplug.modules.module import Module
from nnplug.modules.sequential import Sequential
from nnplug.regular_files import Reader, open_regular, read_exactly, read_into
from nnplug.spec import CHILDREN, ROOT, SpecError, spec_of

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_FILE_BYTES",
    "check_finite",
    "check_save_path",
    "load",
    "save",
]

MAGIC = b"\x89NNP\r\n\x1a\n"
"""The first bytes of every model file; like PNG's, a non-ASCII byte and line endings catch
copies made in text mode."""
FORMAT_VERSION = 1
"""The version of the file layout that ``save`` writes and ``load`` reads."""
_PREAMBLE = struct.Struct("<IQQ")  # format version, header length, payload length
_DIGEST_SIZE = hashlib.sha256().digest_size
_ARRAY_KINDS = "biuf"  # booleans, integers, floats: never objects
_MAX_NDIM = 32  # NumPy's own limit
MAX_FILE_BYTES = 1 << 30
"""The largest model file ``load`` reads by default (1 GiB); ``max_bytes=`` raises it."""
MAX_HEADER_BYTES = 16 << 20
"""The largest JSON header a model file may have."""


def save(model: Module, path: str | os.PathLike[str], *, allow_nonfinite: bool = False) -> None:
    """Write ``model`` (its spec, its plugins and its parameters) to ``path``, atomically.

    A model with a NaN or infinite parameter (a diverged run) is refused with a ValueError
    naming the parameter, unless ``allow_nonfinite`` is true.
    """
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a Module, got {type(model).__name__}")
    spec = spec_of(model)
    if not allow_nonfinite:
        check_finite(model, "save")
    arrays = [_little_endian(param) for param in model.parameters()]
    header = {
        "spec": spec,
        "components": _components(spec),
        "arrays": [{"dtype": array.dtype.str, "shape": list(array.shape)} for array in arrays],
        "nnplug_version": _nnplug_version(),
    }
    header_bytes = json.dumps(header, sort_keys=True, allow_nan=False).encode("utf-8")
    payload_length = sum(array.nbytes for array in arrays)
    with atomic_file(Path(path), "the model") as file:
        writer = _HashingWriter(file)
        writer.write(MAGIC)
        writer.write(_PREAMBLE.pack(FORMAT_VERSION, len(header_bytes), payload_length))
        writer.write(header_bytes)
        for array in arrays:
            writer.write(array.tobytes())
        file.write(writer.digest.digest())


def load(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_FILE_BYTES,
    allow_other_plugins: bool = False,
) -> Module:
    """Rebuild the model saved at ``path``.

    Only a regular file of at most ``max_bytes`` is read. Each layer must come from the
    plugin that provided it when the model was saved; ``allow_other_plugins=True`` accepts
    another provider of the same name. Raises ModelFileError for a missing, special,
    oversized, truncated, modified or foreign file, and UnknownLayerError, naming the plugin
    that provided it, for a layer not installed here.
    """
    path = Path(path)
    file, size = open_regular(
        path,
        what="model file",
        max_bytes=max_bytes,
        error=errors.ModelFileError,
        limit_hint="pass a larger max_bytes to load it",
    )
    with file:
        reader = _Reader(path, file, size)
        try:
            header, arrays = reader.header()
            model = _rebuild(path, header, arrays, allow_other_plugins)
            reader.parameters(list(_named_parameters(model, ROOT)), arrays)
        except (errors.ModelFileError, errors.NnplugLookupError) as error:
            # A damaged file is best described as damaged, whatever it broke.
            if reader.damaged():
                raise reader.checksum_error() from error
            raise
        reader.finish()
    return model


def _rebuild(
    path: Path, header: dict[str, Any], arrays: list[ArrayLayout], allow_other_plugins: bool
) -> Module:
    try:
        _check_installed(path, header)
        _check_providers(path, header, allow_other_plugins)
        return build_checked(path, header["spec"], arrays)
    except RecursionError:
        raise errors.ModelFileError(f"{path}: the saved model is nested too deeply") from None
    except MemoryError:
        raise errors.ModelFileError(f"{path}: the saved model is too large to build") from None
    except SpecError as error:
        raise errors.ModelFileError(
            f"{path}: the saved model cannot be rebuilt with the components installed here: "
            f"{error}{_version_notes(header)}"
        ) from error


def check_save_path(path: str | os.PathLike[str], what: str = "model") -> None:
    """Raise OutputPathError unless a file could be written at ``path`` (its directory exists
    and is writable, the name fits, and ``path`` is not a directory), before a long run."""
    path = Path(path)
    directory = path.parent
    if directory.is_dir() and len(os.fsencode(path.name)) > (limit := name_limit(directory)):
        raise errors.OutputPathError(
            f"cannot save the {what} to {path}: the file name is "
            f"{len(os.fsencode(path.name))} bytes, the directory allows {limit}"
        )
    if path.is_dir():
        raise errors.OutputPathError(f"cannot save the {what} to {path}: it is a directory")
    if not directory.is_dir():
        raise errors.OutputPathError(
            f"cannot save the {what} to {path}: the directory {directory} does not exist"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise errors.OutputPathError(
            f"cannot save the {what} to {path}: the directory {directory} is not writable"
        )


def check_finite(model: Module, action: str) -> None:
    """Raise NonFiniteModelError naming the first parameter of ``model`` holding NaN or inf."""
    for name, param in _named_parameters(model, ROOT):
        if param.dtype.kind == "f" and not np.isfinite(param).all():
            bad = int(np.count_nonzero(~np.isfinite(param)))
            raise errors.NonFiniteModelError(
                f"{action}: {name} has {bad} NaN or infinite values (did training diverge?); "
                f"refusing to {action} a model that cannot compute anything"
            )


# --- writing ----------------------------------------------------------------------------------


class _HashingWriter:
    """Writes to a file and keeps the SHA-256 of everything written."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.file.write(data)


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


class _Reader:
    """Reads a model file front to back once, hashing as it goes, checking every length."""

    def __init__(self, path: Path, file: Reader, size: int) -> None:
        self.path, self.file, self.size = path, file, size
        self.digest = hashlib.sha256()
        self.consumed = 0
        self.sized = False  # whether the preamble's lengths add up to the file's size

    def read(self, size: int) -> bytes:
        data = read_exactly(self.file, size)
        self.digest.update(data)
        self.consumed += len(data)
        return data

    def damaged(self) -> bool:
        """Whether the file fails its checksum (read to the end, a chunk at a time)."""
        if not self.sized:
            return False
        remaining = self.size - _DIGEST_SIZE - self.consumed
        while remaining > 0 and (chunk := self.read(min(remaining, 1 << 20))):
            remaining -= len(chunk)
        return read_exactly(self.file, _DIGEST_SIZE) != self.digest.digest()

    def checksum_error(self) -> errors.ModelFileError:
        return errors.ModelFileError(
            f"{self.path}: the SHA-256 checksum does not match: the file was modified or "
            f"damaged after it was saved"
        )

    def header(self) -> tuple[dict[str, Any], list[ArrayLayout]]:
        """Read and check everything up to the payload; return the header and array layouts."""
        path, size = self.path, self.size
        if size == 0:
            raise errors.ModelFileError(f"{path}: the file is empty, not an nnplug model")
        start = self.read(len(MAGIC) + _PREAMBLE.size)
        if MAGIC.startswith(start):
            raise _truncated(path, size, len(MAGIC) + _PREAMBLE.size + _DIGEST_SIZE)
        if not start.startswith(MAGIC):
            raise errors.ModelFileError(
                f"{path}: not an nnplug model file (it starts with {start[:8]!r}, "
                f"model files start with {MAGIC!r})"
            )
        if len(start) < len(MAGIC) + _PREAMBLE.size:
            raise _truncated(path, size, len(MAGIC) + _PREAMBLE.size + _DIGEST_SIZE)
        version, header_length, payload_length = _PREAMBLE.unpack_from(start, len(MAGIC))
        if version != FORMAT_VERSION:
            newer = " (saved by a newer nnplug?)" if version > FORMAT_VERSION else ""
            raise errors.ModelFileError(
                f"{path}: model file format {version}, but this nnplug reads format "
                f"{FORMAT_VERSION}{newer}"
            )
        expected = len(start) + header_length + payload_length + _DIGEST_SIZE
        if size < expected:
            raise _truncated(path, size, expected)
        if size > expected:
            raise errors.ModelFileError(
                f"{path}: {size - expected} unexpected bytes after the end of the model"
            )
        self.sized = True
        if header_length > MAX_HEADER_BYTES:
            raise errors.ModelFileError(
                f"{path}: malformed model header: {header_length} bytes, over the limit of "
                f"{MAX_HEADER_BYTES}"
            )
        raw = self.read(header_length)
        if len(raw) != header_length:
            raise _truncated(path, len(start) + len(raw), expected)
        header, arrays = _parse_header(path, raw)
        declared = sum(dtype.itemsize * math.prod(shape) for dtype, shape in arrays)
        if declared != payload_length:
            raise errors.ModelFileError(
                f"{path}: the header's arrays take {declared} bytes, but the file holds "
                f"{payload_length} bytes of parameters"
            )
        return header, arrays

    def parameters(self, params: list[tuple[str, np.ndarray]], entries: list[ArrayLayout]) -> None:
        """Read the payload straight into the model's parameters, checking each layout."""
        path = self.path
        if len(params) != len(entries):
            raise errors.ModelFileError(
                f"{path}: the file holds {len(entries)} parameter arrays, but the model built "
                f"from its spec has {len(params)}"
            )
        for (name, param), (dtype, shape) in zip(params, entries, strict=True):
            if param.shape != shape or param.dtype.newbyteorder("<") != dtype:
                raise errors.ModelFileError(
                    f"{path}: {name} is {param.dtype}{list(param.shape)} in the rebuilt model, "
                    f"but {dtype}{list(shape)} in the file"
                )
        for (_, param), (dtype, shape) in zip(params, entries, strict=True):
            if param.dtype == dtype and param.flags.c_contiguous and param.flags.writeable:
                view = param.data.cast("B")
                if read_into(self.file, view) != len(view):
                    raise _changed(path)
                self.digest.update(view)
                self.consumed += len(view)
            else:
                data = self.read(dtype.itemsize * math.prod(shape))
                if len(data) != dtype.itemsize * math.prod(shape):
                    raise _changed(path)
                param[...] = np.frombuffer(data, dtype).reshape(shape)

    def finish(self) -> None:
        """Check the SHA-256 at the end against everything read, and that nothing follows."""
        stored = read_exactly(self.file, _DIGEST_SIZE)
        if stored != self.digest.digest() or self.file.read(1):
            raise self.checksum_error()


def _truncated(path: Path, size: int, expected: int) -> errors.ModelFileError:
    return errors.ModelFileError(
        f"{path}: the file is truncated: {size} bytes, a complete model file has {expected}"
    )


def _changed(path: Path) -> errors.ModelFileError:
    return errors.ModelFileError(f"{path}: the file became shorter while it was read")


def _parse_header(path: Path, raw: bytes) -> tuple[dict[str, Any], list[ArrayLayout]]:
    def malformed(what: str) -> errors.ModelFileError:
        return errors.ModelFileError(f"{path}: malformed model header: {what}")

    try:
        header = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise malformed("nested too deeply") from None
    except ValueError as error:  # bad UTF-8 or JSON, or an integer of too many digits
        raise malformed(str(error)[:200]) from None
    if not isinstance(header, dict):
        raise malformed(f"expected a JSON object, got {type(header).__name__}")
    expected = {"spec": dict, "components": list, "arrays": list}
    for key, kind in expected.items():
        if not isinstance(header.get(key), kind):
            shown = repr(header.get(key))[:60]
            raise malformed(f"{key!r} must be a JSON {kind.__name__}, got {shown}")
    for index, component in enumerate(header["components"]):
        if not isinstance(component, dict) or not all(
            isinstance(component.get(key), str) for key in ("name", "plugin")
        ):
            raise malformed(f"components[{index}] must name a component and its plugin")
    arrays = [_array_entry(entry, i, malformed) for i, entry in enumerate(header["arrays"])]
    return header, arrays


def _array_entry(
    entry: object, index: int, malformed: Callable[[str], errors.ModelFileError]
) -> ArrayLayout:
    if not isinstance(entry, dict):
        raise malformed(f"arrays[{index}] must be an object, got {repr(entry)[:60]}")
    try:
        dtype = np.dtype(entry.get("dtype"))
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in _ARRAY_KINDS or dtype.str != entry.get("dtype"):
        raise malformed(
            f"arrays[{index}] has dtype {repr(entry.get('dtype'))[:40]}, not a numeric dtype"
        )
    shape = entry.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_NDIM
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise malformed(f"arrays[{index}] has shape {repr(shape)[:60]}, not a list of sizes")
    return dtype, tuple(shape)


def _check_installed(path: Path, header: dict[str, Any]) -> None:
    """Raise UnknownLayerError, naming the plugin it came from, for a layer not installed."""
    saved_by = _saved_by(header)
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


def _saved_by(header: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in header["components"] if c.get("kind", "layer") == "layer"}


def _check_providers(path: Path, header: dict[str, Any], allow_other_plugins: bool) -> None:
    """Raise ModelFileError if a layer now comes from another plugin than when it was saved."""
    saved_by = _saved_by(header)
    for where, name in _layer_names(header["spec"], ROOT):
        saved = saved_by.get(name)
        if saved is None:
            continue  # save() always records one; a hand-made header may not
        installed = registry.layers.provider(name)
        if allow_other_plugins or (saved["plugin"], saved.get("distribution")) == (
            installed.name,
            installed.distribution,
        ):
            continue
        recorded = plugins.PluginInfo(
            saved["plugin"], saved.get("distribution"), saved.get("version"), None
        )
        raise errors.ModelFileError(
            f"{path}: layer {name!r} (at {where}) was saved with {recorded.describe()}, but here "
            f"{installed.describe()} provides it, which may compute something else; pass "
            f"allow_other_plugins=True (--allow-other-plugins) to load it anyway"
        )


def _version_notes(header: dict[str, Any]) -> str:
    """Say which plugins changed version since the model was saved (a likely cause)."""
    notes = []
    for component in header["components"]:
        name = component.get("name")
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


def _named_parameters(module: Module, path: str) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(description, array)`` for ``module.parameters()``, in order."""
    if isinstance(module, Sequential) and type(module).parameters is Sequential.parameters:
        for index, child in enumerate(module):
            yield from _named_parameters(child, f"{path}.{CHILDREN}[{index}]")
        return
    for index, param in enumerate(module.parameters()):
        yield f"parameter {index} of {type(module).__name__} at {path}", param
