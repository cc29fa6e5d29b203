"""Datasets for examples and benchmarks: MNIST and Fashion-MNIST, read from IDX files.

Importing this package touches neither the network nor the disk.
"""

from .dataset import Checksum, Dataset, RemoteFile, default_data_dir, load_dataset
from .errors import DatasetError
from .idx import load_idx
from .mnist import FASHION_MNIST, MNIST, download_fashion_mnist, download_mnist

__all__ = [
    "FASHION_MNIST",
    "MNIST",
    "Checksum",
    "Dataset",
    "DatasetError",
    "RemoteFile",
    "default_data_dir",
    "download_fashion_mnist",
    "download_mnist",
    "load_dataset",
    "load_idx",
]
