"""Opening the files nnplug reads (models, images, datasets): regular files of bounded size.

A FIFO would block a reader forever and ``/dev/zero`` would fill memory, so anything but a
regular file is refused before a byte is read, and so is a file above the caller's limit.
"""

from __future__ import annotations

import io
import os
import stat
from typing import Any, Protocol

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int,
    error: type[Exception],
    limit_hint: str = "",
) -> tuple[io.FileIO, int]:
    """Open ``path`` unbuffered for reading if it is a regular file of at most ``max_bytes``.

    Returns the file and its size. Raises ``error`` with a message naming ``path`` and
    ``what`` it should have been otherwise; ``limit_hint`` says how to raise the limit.
    """
    # O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise error(f"{os.fspath(path)}: cannot read the {what}: {err.strerror}") from None
    try:
        mode, size = (info := os.fstat(fd)).st_mode, info.st_size
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise error(f"{os.fspath(path)}: the {what} must be a regular file, got {kind}")
        if size > max_bytes:
            hint = f"; {limit_hint}" if limit_hint else ""
            raise error(
                f"{os.fspath(path)}: the {what} is {size} bytes, over the limit of "
                f"{max_bytes} bytes{hint}"
            )
        os.set_blocking(fd, True)
        return io.FileIO(fd, "rb"), size
    except BaseException:
        os.close(fd)
        raise


class Reader(Protocol):
    """A binary stream that can read into a buffer (files, gzip streams, wrappers)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: Any, /) -> int | None: ...


def read_exactly(file: Reader, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at the end of the file."""
    chunks, remaining = [], size
    while remaining > 0 and (chunk := file.read(min(remaining, 1 << 20))):
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_into(file: Reader, view: memoryview) -> int:
    """Fill ``view`` (bytes) from ``file``; return how many bytes were read (short at EOF)."""
    done = 0
    while done < len(view):
        count = file.readinto(view[done : done + (1 << 20)])
        if not count:
            break
        done += count
    return done
