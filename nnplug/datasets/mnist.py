"""MNIST and Fashion-MNIST: where to get them and how to verify them."""

from __future__ import annotations

import os

from .dataset import Checksum, Dataset, RemoteFile, Splits, load_dataset

FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _files(
    checksums: tuple[Checksum, ...],
) -> tuple[RemoteFile, RemoteFile, RemoteFile, RemoteFile]:
    train_images, train_labels, test_images, test_labels = (
        RemoteFile(name, checksum) for name, checksum in zip(FILE_NAMES, checksums, strict=True)
    )
    return train_images, train_labels, test_images, test_labels


# Payload hashes: the .gz archives differ between mirrors and recompressed copies.
MNIST = Dataset(
    name="mnist",
    title="MNIST",
    files=_files(
        tuple(
            Checksum("sha256", digest)
            for digest in (
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            )
        )
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
)
"""MNIST: 60,000 training and 10,000 test images of handwritten digits, 28x28."""

# Zalando publishes only the MD5 of the .gz archives.
FASHION_MNIST = Dataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    files=_files(
        tuple(
            Checksum("md5", digest, of="archive")
            for digest in (
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79",
                "bb300cfdad3c16e7a12a480ee83cd310",
            )
        )
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
)
"""Fashion-MNIST: MNIST's layout with 10 kinds of clothing instead of digits."""


def download_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool = True, progress: bool = True
) -> Splits:
    """Return MNIST as uint8 arrays (x_train, y_train, x_test, y_test), downloading it if needed.

    Shapes are (60000, 28, 28), (60000,), (10000, 28, 28), (10000,); labels are 0..9.
    The files are looked for in `data_dir` (default: $NNPLUG_DATA_DIR, else
    ~/.cache/nnplug), then in `data_dir/mnist`, where they are downloaded to if missing
    and `download` is true. `progress` shows a progress bar on stderr while downloading.
    Raises DatasetError if a file is missing, corrupt or cannot be downloaded.
    """
    return load_dataset(MNIST, data_dir, download=download, progress=progress)


def download_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool = True, progress: bool = True
) -> Splits:
    """Return Fashion-MNIST as uint8 arrays (x_train, y_train, x_test, y_test), downloading it.

    Shapes, labels and arguments are as for `download_mnist`; the subdirectory is
    `data_dir/fashion-mnist`.
    Uncompressed copies cannot be checked against the published archive checksums,
    so only their structure is verified.
    """
    return load_dataset(FASHION_MNIST, data_dir, download=download, progress=progress)
