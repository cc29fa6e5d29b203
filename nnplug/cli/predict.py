"""``nnplug predict MODEL IMAGE...``: the class a saved model sees in each image."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

import nnplug
from nnplug import recipes, trainer
from nnplug.cli import data
from nnplug.cli.args import add_backend_and_seed
from nnplug.datasets import DatasetError, load_idx
from nnplug.png import read_png

IMAGE_HELP = (
    "a 28x28 PNG (white digit on black, as in MNIST; see --invert), 'test:N' or 'train:N' "
    "(image N of the dataset), or 'FILE:N' (image N of an IDX file, .gz or raw)"
)
_INDEXED = re.compile(r"^(?P<source>.+):(?P<index>\d+)$")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``predict`` command."""
    parser = commands.add_parser("predict", help="classify images with a saved model")
    parser.add_argument("model", type=Path, help="a model saved with --save or nnplug.save")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help=IMAGE_HELP)
    parser.add_argument(
        "--invert", action="store_true", help="invert PNGs (for dark digits on a light ground)"
    )
    data.add_data_options(parser)
    add_backend_and_seed(parser)
    parser.set_defaults(run=predict)


def predict(args: argparse.Namespace) -> int:
    """Print ``IMAGE: CLASS (PROBABILITY%)`` for every image."""
    model = nnplug.load(args.model)
    recipes.check_mnist_model(model)
    splits: dict[str, np.ndarray] = {}
    for name in args.images:
        image = _image(name, args, splits)
        probabilities = trainer.predict(model, image.reshape(1, -1).astype(np.float32) / 255)[0]
        best = int(np.argmax(probabilities))
        print(f"{name}: {best} ({100 * probabilities[best]:.1f}%)")
    return 0


def _image(name: str, args: argparse.Namespace, splits: dict[str, np.ndarray]) -> np.ndarray:
    match = _INDEXED.match(name)
    if name.lower().endswith(".png") and match is None:
        image = read_png(name)
        if args.invert:
            image = 255 - image
    elif match is not None:
        images = _images_of(match["source"], args, splits)
        index = int(match["index"])
        if index >= len(images):
            raise DatasetError(f"{name}: index {index} is out of range (0..{len(images) - 1})")
        image = images[index]
    else:
        raise DatasetError(f"{name}: not a .png file, 'test:N', 'train:N' or 'FILE:N'")
    if image.shape != (28, 28):
        raise DatasetError(f"{name}: expected a 28x28 image, got {image.shape}")
    return image


def _images_of(source: str, args: argparse.Namespace, splits: dict[str, np.ndarray]) -> np.ndarray:
    if source not in splits:
        if source in ("train", "test"):
            x_train, _, x_test, _ = data.load(args)
            splits.update(train=x_train, test=x_test)
        else:
            images = load_idx(source)
            if images.ndim != 3:
                raise DatasetError(f"{source}: expected an IDX file of images, got {images.ndim}-D")
            splits[source] = images
    return splits[source]
