"""Pictures of a training run (needs matplotlib: ``pip install "nnplug[plot]"``)."""

from __future__ import annotations

import os

import numpy as np

from nnplug import trainer
from nnplug.errors import MissingDependencyError
from nnplug.modules import Module
from nnplug.recipes import History

GRID_ROWS, GRID_COLUMNS = 3, 8


def require_matplotlib() -> None:
    """Raise MissingDependencyError, saying how to install it, if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            'plotting needs matplotlib: pip install "nnplug[plot]" (or pip install matplotlib)'
        ) from None


def training_report(
    path: str | os.PathLike[str],
    history: History,
    model: Module,
    images: np.ndarray,
    labels: np.ndarray,
) -> None:
    """Write a PNG with the loss and accuracy curves and test digits with predicted labels."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import MaxNLocator

    epochs = [report.epoch for report in history.reports]
    figure = pyplot.figure(figsize=(10, 8), layout="constrained")
    top, bottom = figure.subfigures(2, 1, squeeze=False, height_ratios=[1, 1.2]).ravel()
    loss_axes, accuracy_axes = top.subplots(1, 2)
    loss_axes.plot(epochs, [r.train_loss for r in history.reports], marker="o")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    accuracy_axes.plot(epochs, [100 * r.test_accuracy for r in history.reports], marker="o")
    accuracy_axes.set(title="test accuracy", xlabel="epoch", ylabel="%")
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))

    shown = images[: GRID_ROWS * GRID_COLUMNS]
    flat = shown.reshape(len(shown), -1).astype(np.float32) / 255
    predicted = trainer.predict(model, flat).argmax(axis=1)
    for axes, image, guess, truth in zip(
        bottom.subplots(GRID_ROWS, GRID_COLUMNS).ravel(), shown, predicted, labels, strict=False
    ):
        axes.imshow(image, cmap="gray")
        axes.set_title(f"{guess}", color="tab:green" if guess == truth else "tab:red")
        axes.axis("off")
    bottom.suptitle("test images: predicted label (red when wrong)")
    figure.savefig(path, dpi=80)
    pyplot.close(figure)
