"""Ready-made training runs: the article's XOR and MNIST models with good defaults."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnplug import losses, modules, optimizers, trainer
from nnplug.preprocessing import flatten_images, one_hot


@dataclass(frozen=True)
class MnistRecipe:
    """How ``nnplug train mnist`` trains the article's 784-100-50-10 model by default."""

    epochs: int = 15
    batch_size: int = 32
    learning_rate: float | None = 0.05  # None: the optimizer's own default
    optimizer: str = "sgd"
    momentum: float = 0.9
    final_learning_rate_fraction: float = 0.02
    optimizer_args: dict[str, Any] = field(default_factory=dict)

    def learning_rate_at(self, epoch: int, start: float | None = None) -> float:
        """Cosine decay from ``start`` (default ``learning_rate``) to a small fraction of it."""
        peak = self.learning_rate if start is None else start
        if peak is None:
            raise ValueError("learning_rate_at: no learning rate to start from")
        progress = (epoch - 1) / max(self.epochs - 1, 1)
        low = peak * self.final_learning_rate_fraction
        return low + 0.5 * (peak - low) * (1 + math.cos(math.pi * progress))


@dataclass
class EpochReport:
    """What one epoch of training achieved."""

    epoch: int
    epochs: int
    train_loss: float
    test_accuracy: float
    seconds: float


@dataclass
class History:
    """The per-epoch reports of a run and its final test accuracy."""

    reports: list[EpochReport] = field(default_factory=list)

    @property
    def test_accuracy(self) -> float:
        """The test accuracy after the last epoch."""
        return self.reports[-1].test_accuracy if self.reports else 0.0


def article_mnist_model() -> modules.Sequential:
    """The article's model: 784-100-50-10, tanh, softmax."""
    return modules.Sequential(
        [
            modules.Linear(784, 100),
            modules.Tanh(),
            modules.Linear(100, 50),
            modules.Tanh(),
            modules.Linear(50, 10),
            modules.Softmax(),
        ]
    )


def cnn_mnist_model() -> modules.Sequential:
    """A small convolutional network for 28x28 digits: two 5x5 convolutions with ReLU and
    2x2 max pooling, then 1024-128-10 dense layers and a softmax. It takes rows of 784
    pixels (or images (N, 1, 28, 28))."""
    return modules.Sequential(
        [
            modules.Conv2D(1, 32, 5, input_shape=(1, 28, 28)),
            modules.ReLU(),
            modules.MaxPool2D(2),
            modules.Conv2D(32, 64, 5),
            modules.ReLU(),
            modules.MaxPool2D(2),
            modules.Flatten(),
            modules.Linear(1024, 128, init="he"),
            modules.ReLU(),
            modules.Linear(128, 10),
            modules.Softmax(),
        ]
    )


ARCHITECTURES: dict[str, Callable[[], modules.Sequential]] = {
    "mlp": article_mnist_model,
    "cnn": cnn_mnist_model,
}

RECIPES: dict[str, MnistRecipe] = {
    "mlp": MnistRecipe(),
    "cnn": MnistRecipe(epochs=5, batch_size=64, learning_rate=0.002, optimizer="adam"),
}


def check_mnist_model(model: modules.Module) -> None:
    """Raise SpecError unless ``model`` maps a batch of 784 pixels to 10 class probabilities."""
    from nnplug.errors import SpecError

    try:
        outputs = model.forward(np.zeros((2, 784), dtype=np.float32))
    except ValueError as error:
        raise SpecError(f"the model does not take 784-pixel images: {error}") from None
    if np.shape(outputs) != (2, 10):
        raise SpecError(
            f"the model must output 10 class probabilities per image; "
            f"it gives shape {np.shape(outputs)[1:]}"
        )


def prepare_mnist(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return flat float32 images in [0, 1] and one-hot labels over 10 classes."""
    return flatten_images(images), one_hot(labels, 10)


def make_optimizer(name: str, model: modules.Module, recipe: MnistRecipe) -> optimizers.Optimizer:
    """Build the optimizer ``name`` (a registered one) for ``model`` from the recipe's settings."""
    from nnplug.registry import optimizers as registered
    from nnplug.spec import build_optimizer

    arguments: dict[str, Any] = {}
    if recipe.learning_rate is not None:
        arguments["learning_rate"] = recipe.learning_rate
    if issubclass(registered[name], optimizers.SGD):
        arguments["momentum"] = recipe.momentum
    return build_optimizer({"type": name, **arguments, **recipe.optimizer_args}, model)


def train_mnist(
    model: modules.Module,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    recipe: MnistRecipe,
    *,
    progress: bool = False,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> History:
    """Train ``model`` on prepared MNIST ``(x_train, y_train, x_test, y_test)`` by ``recipe``.

    The learning rate follows ``recipe.learning_rate_at`` (changed between epochs);
    ``on_epoch`` receives each epoch's report, with the test accuracy after it.
    """
    x_train, y_train, x_test, y_test = data
    # Any: the schedule reaches for a learning_rate only when the optimizer has a number there.
    optimizer: Any = make_optimizer(recipe.optimizer, model, recipe)
    # The schedule rewrites optimizer.learning_rate before each epoch, from its first value.
    start = getattr(optimizer, "learning_rate", None)
    scheduled = isinstance(start, (int, float))
    if scheduled:
        optimizer.learning_rate = recipe.learning_rate_at(1, start)
    history = History()
    started = time.perf_counter()

    def end_of_epoch(epoch: int, error: float) -> None:
        nonlocal started
        seconds = time.perf_counter() - started
        accuracy = trainer.accuracy(model, x_test, y_test)
        report = EpochReport(epoch, recipe.epochs, error, accuracy, seconds)
        history.reports.append(report)
        if on_epoch is not None:
            on_epoch(report)
        if scheduled and epoch < recipe.epochs:
            optimizer.learning_rate = recipe.learning_rate_at(epoch + 1, start)
        started = time.perf_counter()

    trainer.train(
        model,
        x_train,
        y_train,
        losses.CrossEntropy(),
        optimizer,
        recipe.epochs,
        recipe.batch_size,
        shuffle=True,
        verbose=False,
        progress=progress,
        callback=end_of_epoch,
    )
    return history


def train_xor(
    epochs: int = 1000, learning_rate: float = 0.05, verbose: bool = False
) -> tuple[modules.Sequential, np.ndarray, np.ndarray]:
    """Train part 1's XOR network (2-3-1, tanh, MSE, SGD); return it with its four samples."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    model = modules.Sequential(
        [modules.Linear(2, 3), modules.Tanh(), modules.Linear(3, 1), modules.Tanh()]
    )
    trainer.train(
        model,
        x,
        y,
        losses.MSE(),
        optimizers.SGD(model, learning_rate=learning_rate),
        epochs=epochs,
        verbose=verbose,
    )
    return model, x, y
