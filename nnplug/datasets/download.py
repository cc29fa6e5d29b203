"""Downloading a file from the first of several mirrors that serves it intact."""

from __future__ import annotations

import http.client
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from tqdm import tqdm

from .errors import DatasetError

T = TypeVar("T")
CHUNK_SIZE = 1 << 16
USER_AGENT = "nnplug-datasets"


class DownloadError(DatasetError):
    """Every URL failed; `failures` pairs each URL tried with why it failed."""

    def __init__(self, failures: list[tuple[str, str]]) -> None:
        self.failures = failures
        super().__init__("\n".join(f"  {url}: {reason}" for url, reason in failures))


def download_first(
    urls: Sequence[str],
    dest: Path,
    check: Callable[[Path], T],
    *,
    timeout: float = 30.0,
    progress: bool = True,
) -> T:
    """Save the first of `urls` that `check` accepts as `dest`; return what `check` returned.

    `check` gets the downloaded file before it is renamed to `dest` and raises
    DatasetError to reject it. Nothing partial or rejected is left on disk.
    Raises DownloadError, listing every URL and its error, if none works.
    """
    failures = []
    for url in urls:
        try:
            return download(url, dest, check, timeout=timeout, progress=progress)
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append((url, describe_failure(err, timeout)))
    raise DownloadError(failures)


def download(
    url: str,
    dest: Path,
    check: Callable[[Path], T],
    *,
    timeout: float = 30.0,
    progress: bool = True,
) -> T:
    """Save `url` as `dest` if `check` accepts it; return what `check` returned."""
    request = Request(url, headers={"User-Agent": USER_AGENT})
    with urlopen(request, timeout=timeout) as response:
        _reject_html(response)
        # A name of our own, not mkstemp's, so the file gets the usual umask permissions.
        partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with open(partial, "xb") as file:
                _copy(response, file, dest.name, progress)
            result = check(partial)
            os.replace(partial, dest)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return result


def describe_failure(err: Exception, timeout: float) -> str:
    """Say in a few words why a download failed."""
    if isinstance(err, HTTPError):
        err.close()
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, URLError) and isinstance(err.reason, Exception):
        err = err.reason
    if isinstance(err, TimeoutError):
        return f"timed out (no data for {timeout:g} s)"
    if isinstance(err, DatasetError):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _reject_html(response: http.client.HTTPResponse) -> None:
    content_type = response.headers.get("Content-Type", "")
    if content_type.lower().startswith("text/html"):
        raise DatasetError(f"the server sent an HTML page (Content-Type: {content_type})")


def _copy(response: http.client.HTTPResponse, file: BinaryIO, name: str, progress: bool) -> None:
    expected = _content_length(response)
    received = 0
    with tqdm(
        total=expected,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not progress,
    ) as bar:
        while chunk := response.read(CHUNK_SIZE):
            file.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    # http.client returns an early end of the body as a short read, not an error.
    if expected is not None and received != expected:
        raise DatasetError(
            f"the connection closed after {received} of {expected} bytes (truncated download)"
        )


def _content_length(response: http.client.HTTPResponse) -> int | None:
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None
