"""``nnplug train xor`` and ``nnplug train mnist`` (or ``fashion-mnist``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

import nnplug
from nnplug import recipes, trainer
from nnplug.cli import data
from nnplug.cli.args import add_backend_and_seed, positive_float, positive_int
from nnplug.errors import SpecError
from nnplug.modules import Module


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``train`` command and its jobs."""
    train = commands.add_parser("train", help="train a demo model")
    jobs = train.add_subparsers(dest="job", required=True, metavar="JOB")

    xor = jobs.add_parser("xor", help="part 1's XOR network (2-3-1, tanh, MSE)")
    xor.add_argument("--epochs", type=positive_int, default=1000)
    xor.add_argument("--learning-rate", type=positive_float, default=0.05)
    add_backend_and_seed(xor)
    xor.set_defaults(run=train_xor)

    for name in ("mnist", "fashion-mnist"):
        title = "MNIST" if name == "mnist" else "Fashion-MNIST"
        job = jobs.add_parser(
            name, help=f"the article's model (784-100-50-10) on all 60,000 {title} images"
        )
        _add_image_training_options(job)
        job.set_defaults(run=train_images, dataset=name)


def _add_image_training_options(parser: argparse.ArgumentParser) -> None:
    mlp, cnn = recipes.RECIPES["mlp"], recipes.RECIPES["cnn"]

    def default(name: str) -> str:
        return f"default: {getattr(mlp, name)} (mlp), {getattr(cnn, name)} (cnn)"

    parser.add_argument(
        "--arch",
        choices=sorted(recipes.ARCHITECTURES),
        default="mlp",
        help="mlp: the article's 784-100-50-10 model (default); cnn: a convolutional network",
    )
    parser.add_argument("--epochs", type=positive_int, help=default("epochs"))
    parser.add_argument("--batch-size", type=positive_int, help=default("batch_size"))
    parser.add_argument("--learning-rate", type=positive_float, help=default("learning_rate"))
    parser.add_argument("--optimizer", help="sgd or adam; " + default("optimizer"))
    data.add_data_options(parser, choose_dataset=False)
    parser.add_argument(
        "--model", type=Path, help="JSON spec of the model to train (default: --arch's)"
    )
    parser.add_argument("--save", type=Path, help="save the trained model to this file")
    parser.add_argument(
        "--plot", type=Path, help="write a PNG of the training curves and test predictions"
    )
    parser.add_argument("--limit", type=positive_int, help="train on the first N images only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_backend_and_seed(parser)


def train_xor(args: argparse.Namespace) -> int:
    """Train XOR and print the four predictions; exit 1 if any is wrong."""
    model, x, y = recipes.train_xor(args.epochs, args.learning_rate)
    outputs = trainer.predict(model, x)
    for sample, target, output in zip(x, y, outputs, strict=True):
        print(f"{sample.astype(int).tolist()} -> {output[0]:.3f} (target {int(target[0])})")
    correct = int(np.sum((outputs > 0.5) == (y > 0.5)))
    print(f"xor: {correct}/4 correct")
    return 0 if correct == 4 else 1


def train_images(args: argparse.Namespace) -> int:
    """Train on MNIST or Fashion-MNIST and print ``test accuracy: NN.NN%``."""
    if args.plot is not None:
        from nnplug import plotting

        plotting.require_matplotlib()
    chosen = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "optimizer": args.optimizer,
    }
    recipe = dataclasses.replace(
        recipes.RECIPES[args.arch], **{k: v for k, v in chosen.items() if v is not None}
    )
    model = _model(args.model, args.arch)
    x_train, y_train, x_test, y_test = data.load(args, progress=not args.no_progress)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    prepared = (*recipes.prepare_mnist(x_train, y_train), *recipes.prepare_mnist(x_test, y_test))
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
        model, prepared, recipe, progress=not args.no_progress, on_epoch=report
    )
    if args.save is not None:
        nnplug.save(model, args.save)
        print(f"saved the model to {args.save}")
    if args.plot is not None:
        from nnplug import plotting

        plotting.training_report(args.plot, history, model, x_test, y_test)
        print(f"wrote {args.plot}")
    print(f"test accuracy: {100 * history.test_accuracy:.2f}%")
    return 0


def _model(spec_path: Path | None, arch: str) -> Module:
    if spec_path is None:
        return recipes.ARCHITECTURES[arch]()
    try:
        spec = json.loads(spec_path.read_text())
    except OSError as error:
        raise SpecError(f"cannot read the model spec {spec_path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise SpecError(f"{spec_path} is not valid JSON: {error}") from None
    model = nnplug.build(spec)
    recipes.check_mnist_model(model)
    return model
