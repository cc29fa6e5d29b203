"""``nnplug evaluate MODEL``: test accuracy and confusion matrix of a saved model."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import nnplug
from nnplug import recipes, serialization, trainer
from nnplug.cli import data
from nnplug.cli.args import add_backend_and_seed


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    parser = commands.add_parser("evaluate", help="test accuracy and confusion matrix of a model")
    parser.add_argument("model", type=Path, help="a model saved with --save or nnplug.save")
    parser.add_argument(
        "--allow-other-plugins",
        action="store_true",
        help="load the model even if a layer now comes from another plugin than when saved",
    )
    data.add_data_options(parser)
    add_backend_and_seed(parser)
    parser.set_defaults(run=evaluate)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Return counts ``[true, predicted]`` of every pair of classes."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def format_confusion(matrix: np.ndarray) -> str:
    """Render a confusion matrix with per-class accuracy, true classes as rows."""
    classes = len(matrix)
    width = max(5, len(str(matrix.max())) + 1)
    lines = [
        "true \\ predicted".ljust(17)
        + "".join(f"{c:>{width}}" for c in range(classes))
        + "   accuracy"
    ]
    for true_class, row in enumerate(matrix):
        total = row.sum()
        share = f"{100 * row[true_class] / total:9.2f}%" if total else "        -"
        lines.append(f"{true_class:<17}" + "".join(f"{n:>{width}}" for n in row) + f"  {share}")
    return "\n".join(lines)


def evaluate(args: argparse.Namespace) -> int:
    """Print the model's test accuracy and confusion matrix."""
    model = nnplug.load(args.model, allow_other_plugins=args.allow_other_plugins)
    serialization.check_finite(model, "evaluate")
    recipes.check_mnist_model(model)
    _, _, images, labels = data.load(args)
    x_test, _ = recipes.prepare_mnist(images, labels)
    predicted = trainer.predict(model, x_test).argmax(axis=1)
    matrix = confusion_matrix(labels.astype(np.int64), predicted, 10)
    print(f"{args.model}: {len(labels)} {args.dataset} test images")
    print(format_confusion(matrix))
    print(f"test accuracy: {100 * np.trace(matrix) / max(len(labels), 1):.2f}%")
    return 0
