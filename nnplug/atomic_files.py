"""Writing the files nnplug writes (models, ONNX exports) atomically: a reader sees the old
file or the whole new one, never a part, and a failed write leaves the old file as it was.
"""

from __future__ import annotations

import errno
import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(path: Path, what: str) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` only once fully written and synced to disk;
    ``what`` names the contents in errors ("the model").

    On any error the temporary file is removed and ``path`` is left untouched.
    """
    temporary = path.with_name(_temporary_name(path.name, name_limit(path.parent)))
    # O_EXCL: never write through a file or link someone else put there. Mode 0o666 lets the
    # umask decide the permissions, as for any new file.
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT, f"cannot save {what}: no such directory", str(path.parent)
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
    try:
        sync_directory(path.parent)
    except OSError as error:  # the new file is in place; only its durability is in doubt
        warnings.warn(
            f"saved {path}, but could not sync its directory ({error.strerror}): after a "
            f"crash the previous file may reappear",
            RuntimeWarning,
            stacklevel=3,
        )


def name_limit(directory: Path) -> int:
    """The longest file name, in bytes, that ``directory`` allows (255 if it cannot say)."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories can't be opened)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_name(name: str, limit: int) -> str:
    """A hidden, unique name next to ``name`` that fits in ``limit`` bytes."""
    token = secrets.token_hex(6)
    room = limit - len(f"..{token}.tmp")
    encoded = os.fsencode(name)
    if len(encoded) > room:
        # Cut on a character boundary, so the name still decodes.
        encoded = encoded[: max(room, 0)].decode("utf-8", "ignore").encode("utf-8")
        name = os.fsdecode(encoded)
    return f".{name}.{token}.tmp" if name else f".{token}.tmp"
