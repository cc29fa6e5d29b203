"""``nnplug train xor`` and ``nnplug train mnist``."""

from __future__ import annotations

import argparse

import numpy as np

import nnplug
from nnplug import recipes, trainer
from nnplug.cli.args import add_backend_and_seed, positive_float, positive_int
from nnplug.datasets import download_mnist


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``train`` command and its jobs."""
    train = commands.add_parser("train", help="train a demo model")
    jobs = train.add_subparsers(dest="job", required=True, metavar="JOB")

    xor = jobs.add_parser("xor", help="part 1's XOR network (2-3-1, tanh, MSE)")
    xor.add_argument("--epochs", type=positive_int, default=1000)
    xor.add_argument("--learning-rate", type=positive_float, default=0.05)
    add_backend_and_seed(xor)
    xor.set_defaults(run=train_xor)

    defaults = recipes.MnistRecipe()
    mnist = jobs.add_parser(
        "mnist", help="the article's MNIST model (784-100-50-10) on all 60,000 images"
    )
    mnist.add_argument("--epochs", type=positive_int, default=defaults.epochs)
    mnist.add_argument("--batch-size", type=positive_int, default=defaults.batch_size)
    mnist.add_argument("--learning-rate", type=positive_float, default=defaults.learning_rate)
    mnist.add_argument("--optimizer", default=defaults.optimizer, help="sgd (default) or adam")
    mnist.add_argument(
        "--data-dir", help="directory with the MNIST files (default: $NNPLUG_DATA_DIR or the cache)"
    )
    mnist.add_argument("--limit", type=positive_int, help="train on the first N images only")
    mnist.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_backend_and_seed(mnist)
    mnist.set_defaults(run=train_mnist)


def train_xor(args: argparse.Namespace) -> int:
    """Train XOR and print the four predictions; exit 1 if any is wrong."""
    model, x, y = recipes.train_xor(args.epochs, args.learning_rate)
    outputs = trainer.predict(model, x)
    for sample, target, output in zip(x, y, outputs, strict=True):
        print(f"{sample.astype(int).tolist()} -> {output[0]:.3f} (target {int(target[0])})")
    correct = int(np.sum((outputs > 0.5) == (y > 0.5)))
    print(f"xor: {correct}/4 correct")
    return 0 if correct == 4 else 1


def train_mnist(args: argparse.Namespace) -> int:
    """Train the article's model on MNIST and print ``test accuracy: NN.NN%``."""
    recipe = recipes.MnistRecipe(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        optimizer=args.optimizer,
    )
    x_train, y_train, x_test, y_test = download_mnist(args.data_dir, progress=not args.no_progress)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    data = (*recipes.prepare_mnist(x_train, y_train), *recipes.prepare_mnist(x_test, y_test))
    model = recipes.article_mnist_model()
    print(
        f"training {len(x_train)} images, {recipe.epochs} epochs, batch {recipe.batch_size}, "
        f"{recipe.optimizer} lr {recipe.learning_rate}, backend {nnplug.current_backend().name}"
    )

    def report(epoch: recipes.EpochReport) -> None:
        print(
            f"epoch {epoch.epoch}/{epoch.epochs}: train loss {epoch.train_loss:.4f}, "
            f"test accuracy {100 * epoch.test_accuracy:.2f}% ({epoch.seconds:.1f} s)",
            flush=True,
        )

    history = recipes.train_mnist(
        model, data, recipe, progress=not args.no_progress, on_epoch=report
    )
    print(f"test accuracy: {100 * history.test_accuracy:.2f}%")
    return 0
