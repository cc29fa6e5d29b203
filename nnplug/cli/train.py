"""``nnplug train xor`` and ``nnplug train mnist`` (or ``fashion-mnist``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

import nnplug
from nnplug import recipes, registry, trainer
from nnplug.cli import data
from nnplug.cli.args import add_backend_and_seed, positive_float, positive_int
from nnplug.errors import SpecError
from nnplug.modules import Module
from nnplug.regular_files import open_regular, read_exactly
from nnplug.serialization import check_save_path

MAX_SPEC_BYTES = 16 << 20


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
            name, help=f"the article's model (or --arch cnn) on all 60,000 {title} images"
        )
        _add_image_training_options(job)
        job.set_defaults(run=train_images, dataset=name)


SCHEDULE_HELP = (
    "The learning rate follows a cosine schedule: before each epoch the trainer sets the "
    "optimizer's learning_rate attribute to a value falling from the starting rate to 2% of "
    "it over the run, so an optimizer must read self.learning_rate at every step to follow it."
)


def _add_image_training_options(parser: argparse.ArgumentParser) -> None:
    mlp, cnn = recipes.RECIPES["mlp"], recipes.RECIPES["cnn"]

    def default(name: str) -> str:
        return f"default: {getattr(mlp, name)} (mlp), {getattr(cnn, name)} (cnn)"

    parser.description = SCHEDULE_HELP
    parser.add_argument(
        "--arch",
        choices=sorted(recipes.ARCHITECTURES),
        default="mlp",
        help="mlp: the article's 784-100-50-10 model (default); cnn: a convolutional network",
    )
    parser.add_argument("--epochs", type=positive_int, help=default("epochs"))
    parser.add_argument("--batch-size", type=positive_int, help=default("batch_size"))
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        help=f"starting learning rate ({default('learning_rate')}, the recipes' tuned values "
        "for their own optimizers; another optimizer starts at its own default)",
    )
    parser.add_argument(
        "--optimizer",
        help=f"a registered optimizer: {', '.join(registry.optimizers)} ({default('optimizer')})",
    )
    parser.add_argument(
        "--optimizer-arg",
        action="append",
        default=[],
        type=optimizer_argument,
        metavar="NAME=VALUE",
        help="another argument of the optimizer, e.g. momentum=0.8 or decay=0.95 "
        "(VALUE is read as JSON, else as a string; repeat for more)",
    )
    data.add_data_options(parser, choose_dataset=False)
    parser.add_argument(
        "--model", type=Path, help="JSON spec of the model to train (default: --arch's)"
    )
    parser.add_argument(
        "--save", type=Path, help="save the trained model to this file (checked before training)"
    )
    parser.add_argument(
        "--plot", type=Path, help="write a PNG of the training curves and test predictions"
    )
    parser.add_argument("--limit", type=positive_int, help="train on the first N images only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_backend_and_seed(parser)


def optimizer_argument(text: str) -> tuple[str, object]:
    """An argparse type: ``NAME=VALUE``, the value parsed as JSON when it is JSON."""
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    if name == "learning_rate":
        raise argparse.ArgumentTypeError("give the learning rate with --learning-rate")
    try:
        parsed = json.loads(value)
    except ValueError:  # not JSON (or too long an integer): the text itself
        parsed = value
    return name, parsed


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
    for path, what in ((args.save, "model"), (args.plot, "plot")):
        if path is not None:
            check_save_path(path, what)
    recipe = _recipe(args)
    model = _model(args.model, args.arch)
    probe = recipes.make_optimizer(recipe.optimizer, model, recipe)  # bad arguments fail now
    rate = getattr(probe, "learning_rate", None)
    x_train, y_train, x_test, y_test = data.load(args, progress=not args.no_progress)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    prepared = (*recipes.prepare_mnist(x_train, y_train), *recipes.prepare_mnist(x_test, y_test))
    print(
        f"training {len(x_train)} images, {recipe.epochs} epochs, batch {recipe.batch_size}, "
        f"{recipe.optimizer} lr {rate if rate is not None else '(its own)'}, "
        f"backend {nnplug.current_backend().name}"
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


def _recipe(args: argparse.Namespace) -> recipes.MnistRecipe:
    """The ``--arch`` recipe with what the command line changes.

    The learning rate is the one given, else the recipe's when training with the recipe's
    own optimizer, else None: another optimizer starts at its own default.
    """
    base = recipes.RECIPES[args.arch]
    optimizer = args.optimizer or base.optimizer
    rate = args.learning_rate
    if rate is None and optimizer == base.optimizer:
        rate = base.learning_rate
    chosen = {"epochs": args.epochs, "batch_size": args.batch_size}
    return dataclasses.replace(
        base,
        **{k: v for k, v in chosen.items() if v is not None},
        optimizer=optimizer,
        learning_rate=rate,
        optimizer_args=dict(args.optimizer_arg),
    )


def _model(spec_path: Path | None, arch: str) -> Module:
    if spec_path is None:
        return recipes.ARCHITECTURES[arch]()
    file, _ = open_regular(spec_path, what="model spec", max_bytes=MAX_SPEC_BYTES, error=SpecError)
    with file:
        raw = read_exactly(file, MAX_SPEC_BYTES)
    try:
        spec = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise SpecError(f"{spec_path}: the JSON is nested too deeply") from None
    except ValueError as error:  # bad UTF-8 or JSON, or an integer of too many digits
        raise SpecError(f"{spec_path} is not valid JSON: {str(error)[:200]}") from None
    if not isinstance(spec, dict):
        raise SpecError(
            f"{spec_path}: expected a JSON object (a layer spec), got {type(spec).__name__}"
        )
    model = nnplug.build(spec)
    recipes.check_mnist_model(model)
    return model
