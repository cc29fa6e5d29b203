"""``nnplug predict MODEL IMAGE...``: the class a saved model sees in each image."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

import nnplug
from nnplug import recipes, serialization, trainer
from nnplug.cli import data
from nnplug.cli.args import add_backend_and_seed
from nnplug.datasets import DatasetError, load_idx
from nnplug.images import read_image
from nnplug.modules import Sequential, Softmax
from nnplug.preprocessing import mnist_digit

IMAGE_HELP = (
    "an image file Pillow reads (PNG, JPEG, ...; a photo of one handwritten digit is made "
    "into an MNIST image: greyscale, light on dark, cropped, scaled into 20x20 and centred "
    "by its centre of mass in 28x28), 'test:N' or 'train:N' (image N of the dataset), or "
    "'FILE:N' (image N of an IDX file, .gz or raw)"
)
_INDEXED = re.compile(r"^(?P<source>.+):(?P<index>\d+)$")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``predict`` command."""
    parser = commands.add_parser(
        "predict",
        help="classify images with a saved model",
        description="Print IMAGE: CLASS for each image, with the class's probability when "
        "the model ends in softmax.",
    )
    parser.add_argument("model", type=Path, help="a model saved with --save or nnplug.save")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help=IMAGE_HELP)
    parser.add_argument(
        "--invert",
        action="store_true",
        help="treat image files as dark digits on a light ground (default: detected)",
    )
    parser.add_argument(
        "--no-preprocess",
        action="store_true",
        help="feed 28x28 image files as they are (white digit on black, already centred)",
    )
    parser.add_argument(
        "--allow-other-plugins",
        action="store_true",
        help="load the model even if a layer now comes from another plugin than when saved",
    )
    data.add_data_options(parser)
    add_backend_and_seed(parser)
    parser.set_defaults(run=predict)


def predict(args: argparse.Namespace) -> int:
    """Print ``IMAGE: CLASS (PROBABILITY%)`` for every image (``IMAGE: CLASS`` without softmax)."""
    model = nnplug.load(args.model, allow_other_plugins=args.allow_other_plugins)
    serialization.check_finite(model, "predict with")
    recipes.check_mnist_model(model)
    probabilities = _ends_in_softmax(model)
    splits: dict[str, np.ndarray] = {}
    for name in args.images:
        image = _image(name, args, splits)
        outputs = trainer.predict(model, image.reshape(1, -1).astype(np.float32) / 255)[0]
        best = int(np.argmax(outputs))
        shown = f" ({100 * outputs[best]:.1f}%)" if probabilities else ""
        print(f"{name}: {best}{shown}")
    return 0


def _ends_in_softmax(model: nnplug.modules.Module) -> bool:
    while isinstance(model, Sequential) and len(model):
        model = model[len(model) - 1]
    return isinstance(model, Softmax)


def _image(name: str, args: argparse.Namespace, splits: dict[str, np.ndarray]) -> np.ndarray:
    match = _INDEXED.match(name)
    if match is not None and not Path(name).is_file():
        images = _images_of(match["source"], args, splits)
        index = int(match["index"])
        if index >= len(images):
            raise DatasetError(f"{name}: index {index} is out of range (0..{len(images) - 1})")
        image = images[index]
    elif args.no_preprocess:
        image = read_image(name)
        if args.invert:
            image = 255 - image
    else:
        try:
            image = mnist_digit(read_image(name), invert=True if args.invert else None)
        except ValueError as error:
            if not str(error).startswith("mnist_digit"):
                raise
            raise DatasetError(f"{name}: {str(error).removeprefix('mnist_digit: ')}") from None
    if image.shape != (28, 28):
        raise DatasetError(f"{name}: expected a 28x28 image, got {image.shape[1]}x{image.shape[0]}")
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
