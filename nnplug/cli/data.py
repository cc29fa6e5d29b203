"""Options and loading shared by the commands that read MNIST or Fashion-MNIST."""

from __future__ import annotations

import argparse

import numpy as np

from nnplug.datasets import DatasetError, download_fashion_mnist, download_mnist

LOADERS = {"mnist": download_mnist, "fashion-mnist": download_fashion_mnist}


def add_data_options(parser: argparse.ArgumentParser, *, choose_dataset: bool = True) -> None:
    """Add ``--data-dir`` and, with ``choose_dataset``, ``--dataset``."""
    if choose_dataset:
        parser.add_argument(
            "--dataset",
            choices=sorted(LOADERS),
            default="mnist",
            help="which dataset (default: mnist)",
        )
    parser.add_argument(
        "--data-dir",
        help="directory with the dataset's IDX files (default: $NNPLUG_DATA_DIR or the cache; "
        "downloaded there if missing)",
    )


def load(args: argparse.Namespace, progress: bool = True) -> tuple[np.ndarray, ...]:
    """Return ``(x_train, y_train, x_test, y_test)`` of the dataset the options name.

    Raises DatasetError unless both splits hold at least one 28x28 image.
    """
    splits = LOADERS[args.dataset](args.data_dir, progress=progress)
    for images, split in ((splits[0], "training"), (splits[2], "test")):
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DatasetError(
                f"{args.dataset}: expected 28x28 {split} images, got shape {images.shape[1:]}"
            )
        if len(images) == 0:
            raise DatasetError(f"{args.dataset}: the dataset has no {split} images")
    return splits
