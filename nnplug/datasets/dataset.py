"""Describing a dataset of four IDX files, and loading it from disk or from its mirrors."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .download import DownloadError, download_first
from .errors import DatasetError
from .idx import Hashes, read_idx_path

DATA_DIR_ENV = "NNPLUG_DATA_DIR"
Splits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Checksum:
    """The expected hash of a file.

    With `of="payload"` the hash covers the decompressed IDX bytes, so it holds for a
    gzip-compressed and an uncompressed copy alike. With `of="archive"` it covers the
    published .gz file; an uncompressed copy cannot be checked against it and is only
    checked for being well-formed.
    """

    algorithm: str
    digest: str
    of: Literal["payload", "archive"] = "payload"

    def hashes(self) -> Hashes:
        """A fresh hash object, in the place (payload or archive) this checksum covers."""
        digest = hashlib.new(self.algorithm, usedforsecurity=False)
        return Hashes(payload=digest) if self.of == "payload" else Hashes(archive=digest)

    def check(self, hashes: Hashes, name: str) -> None:
        """Raise DatasetError unless the hash fed while reading matches `digest`.

        An archive checksum cannot check an uncompressed file.
        """
        if self.of == "archive" and not hashes.compressed:
            return
        actual = (hashes.payload or hashes.archive).hexdigest()
        if actual != self.digest.lower():
            what = "the decompressed data" if self.of == "payload" else "the gzip file"
            raise DatasetError(
                f"{name}: {self.algorithm.upper()} of {what} is {actual}, expected "
                f"{self.digest}: the file is corrupt, incomplete or not this dataset's file"
            )


@dataclass(frozen=True)
class RemoteFile:
    """One IDX file of a dataset: its name without `.gz`, and how to verify it."""

    name: str
    checksum: Checksum

    @property
    def archive_name(self) -> str:
        """The name of the gzip-compressed file, as the mirrors publish it."""
        return f"{self.name}.gz"


@dataclass(frozen=True)
class Dataset:
    """An image-classification dataset published as four IDX files.

    `files` are, in order: train images, train labels, test images, test labels.
    `name` is also the subdirectory of the data directory that downloads go to, and
    `mirrors` are base URLs, tried in order, that each serve the four `.gz` files.
    """

    name: str
    title: str
    files: tuple[RemoteFile, RemoteFile, RemoteFile, RemoteFile]
    mirrors: tuple[str, ...]
    num_classes: int = 10


def default_data_dir() -> Path:
    """The data directory used when none is given.

    It is $NNPLUG_DATA_DIR if set, else `nnplug` in the user's cache directory
    ($XDG_CACHE_HOME, else ~/.cache).
    """
    if configured := os.environ.get(DATA_DIR_ENV):
        return Path(configured).expanduser()
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    xdg_cache = os.environ.get("XDG_CACHE_HOME", "")
    cache = Path(xdg_cache) if os.path.isabs(xdg_cache) else Path.home() / ".cache"
    return cache / "nnplug"


def load_dataset(
    dataset: Dataset,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    progress: bool = True,
    timeout: float = 30.0,
) -> Splits:
    """Return `dataset` as (x_train, y_train, x_test, y_test), downloading missing files.

    Each file is looked for, gzip-compressed or not, in `data_dir` (default:
    `default_data_dir()`) and then in `data_dir/<dataset.name>`, where downloads go.
    Every file is verified, including files already on disk. `timeout` is in seconds
    per network operation. Arrays of uint8 data are read-only. Raises DatasetError
    saying what is wrong and how to fix it.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    paths = [find_file(root, dataset, file) for file in dataset.files]
    missing = [file for file, path in zip(dataset.files, paths, strict=True) if path is None]
    if missing and not download:
        raise DatasetError(_not_found_message(dataset, root, missing))
    loaded = [
        _read_stored(path, file, dataset, root)
        if path
        else _fetch(dataset, file, root, progress, timeout)
        for file, path in zip(dataset.files, paths, strict=True)
    ]
    _check_splits(dataset, loaded)
    x_train, y_train, x_test, y_test = (array for _, array in loaded)
    return x_train, y_train, x_test, y_test


def find_file(root: Path, dataset: Dataset, file: RemoteFile) -> Path | None:
    """Where `file` is stored under `root`, or None: `root` first, then `root/<dataset.name>`."""
    for directory in (root, root / dataset.name):
        for name in (file.archive_name, file.name):
            if (path := directory / name).is_file():
                return path
    return None


def _read_file(
    path: Path, file: RemoteFile, name: str, *, require_gzip: bool = False
) -> np.ndarray:
    """Return the verified array in `path`, which holds `file`; `name` is used in errors."""
    hashes = file.checksum.hashes()
    array = read_idx_path(path, name, hashes=hashes, require_gzip=require_gzip)
    file.checksum.check(hashes, name)
    return array


def _read_stored(
    path: Path, file: RemoteFile, dataset: Dataset, root: Path
) -> tuple[Path, np.ndarray]:
    try:
        return path, _read_file(path, file, str(path))
    except DatasetError as err:
        raise DatasetError(f"{err}\n{_damaged_file_fix(path, dataset, root)}") from err


def _damaged_file_fix(path: Path, dataset: Dataset, root: Path) -> str:
    if path.parent == root / dataset.name:
        return f"Delete {path} to download it again, or replace it with a good copy."
    return (
        f"Delete {path} or replace it with a good copy. If {path.parent} holds another "
        f"dataset with the same file names (MNIST and Fashion-MNIST share them), use a "
        f"different data_dir or {DATA_DIR_ENV} for {dataset.title}."
    )


def _fetch(
    dataset: Dataset, file: RemoteFile, root: Path, progress: bool, timeout: float
) -> tuple[Path, np.ndarray]:
    dest_dir = _download_dir(dataset, root)
    dest = dest_dir / file.archive_name
    urls = [f"{mirror.rstrip('/')}/{file.archive_name}" for mirror in dataset.mirrors]
    try:
        array = download_first(
            urls,
            dest,
            lambda partial: _read_file(partial, file, file.archive_name, require_gzip=True),
            timeout=timeout,
            progress=progress,
        )
    except DownloadError as err:
        tried = str(err) if err.failures else "  (the dataset lists no mirrors)"
        raise DatasetError(
            f"Could not download {file.archive_name} for {dataset.title}. Tried:\n{tried}\n"
            + _manual_fix(dataset, dest_dir)
        ) from err
    return dest, array


def _download_dir(dataset: Dataset, root: Path) -> Path:
    dest_dir = root / dataset.name
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(
            f"Cannot create {dest_dir} to download {dataset.title} into: {err.strerror}.\n"
            + _manual_fix(dataset, dest_dir)
        ) from err
    if not os.access(dest_dir, os.W_OK):
        raise DatasetError(
            f"Cannot download {dataset.title} into {dest_dir}: the directory is not writable.\n"
            + _manual_fix(dataset, dest_dir)
        )
    return dest_dir


def _not_found_message(dataset: Dataset, root: Path, missing: list[RemoteFile]) -> str:
    names = ", ".join(f"{file.name}[.gz]" for file in missing)
    return (
        f"{dataset.title} files not found: {names}. Looked in {root} and "
        f"{root / dataset.name}; nothing was downloaded because download=False.\n"
        + _manual_fix(dataset, root / dataset.name)
        + " Or call again with download=True."
    )


def _manual_fix(dataset: Dataset, dest_dir: Path) -> str:
    names = ", ".join(file.archive_name for file in dataset.files)
    mirrors = ", ".join(dataset.mirrors) or "the dataset's publisher"
    return (
        f"To install {dataset.title} by hand, download {names} (from {mirrors}) into "
        f"{dest_dir}, gzip-compressed or not; or put them in any directory and pass it "
        f"as data_dir or set {DATA_DIR_ENV} to it."
    )


def _check_splits(dataset: Dataset, loaded: list[tuple[Path, np.ndarray]]) -> None:
    train_images, train_labels, test_images, test_labels = loaded
    _check_split(train_images, train_labels, dataset.num_classes)
    _check_split(test_images, test_labels, dataset.num_classes)
    (train_path, x_train), (test_path, x_test) = train_images, test_images
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(
            f"{train_path} holds images of shape {x_train.shape[1:]} but "
            f"{test_path} holds images of shape {x_test.shape[1:]}"
        )


def _check_split(
    images: tuple[Path, np.ndarray], labels: tuple[Path, np.ndarray], num_classes: int
) -> None:
    (images_path, x), (labels_path, y) = images, labels
    _check_array(images_path, x, 3, "images (count, rows, columns)")
    _check_array(labels_path, y, 1, "labels (count,)")
    if len(x) != len(y):
        raise DatasetError(
            f"{images_path} holds {len(x)} images but {labels_path} holds {len(y)} labels"
        )
    if y.size and int(y.max()) >= num_classes:
        raise DatasetError(
            f"{labels_path}: labels must be in 0..{num_classes - 1}, found {int(y.max())}"
        )


def _check_array(path: Path, array: np.ndarray, ndim: int, what: str) -> None:
    if array.ndim != ndim:
        raise DatasetError(f"{path}: expected {ndim}-D {what}, found shape {array.shape}")
    if array.dtype != np.uint8:
        raise DatasetError(f"{path}: expected uint8 {what}, found {array.dtype}")
