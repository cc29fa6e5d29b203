"""The training loop of the article, with mini-batches, shuffling and a divergence guard."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
from tqdm import tqdm

from nnplug.backends import current_backend
from nnplug.backends.base import PlanRunner
from nnplug.errors import TrainingDivergedError
from nnplug.losses import CrossEntropy, Loss
from nnplug.modules.layout import as_float_array
from nnplug.modules.module import Module
from nnplug.modules.sequential import Sequential
from nnplug.modules.softmax import Softmax
from nnplug.optimizers import Optimizer
from nnplug.planner import training_plan
from nnplug.registry import layers
from nnplug.rng import generator as default_generator

EpochCallback = Callable[[int, float], None]


def train(
    module: Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    loss: Loss,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int = 1,
    *,
    shuffle: bool = False,
    verbose: bool = True,
    progress: bool = False,
    on_nonfinite: Literal["raise", "warn"] = "raise",
    rng: np.random.Generator | None = None,
    callback: EpochCallback | None = None,
) -> list[float]:
    """Train ``module`` and return the mean training error of each epoch.

    Each step runs ``batch_size`` samples forward, sends the loss gradient back, calls
    ``optimizer.step()`` then ``optimizer.zero_gradients()``. ``batch_size=1`` is the
    article's per-sample SGD. Samples are rows ``(N, features)`` or the article's stacks
    of column vectors ``(N, features, 1)``; likewise the targets. With ``shuffle`` the
    order changes every epoch (drawn from ``rng``, default nnplug's generator). Prints
    ``i/epochs error=...`` per epoch unless ``verbose`` is False, and a progress bar per epoch
    with ``progress``; ``callback(epoch, error)``
    runs after each epoch. A NaN or infinite loss raises TrainingDivergedError (or warns
    once and stops, with ``on_nonfinite="warn"``).
    """
    x, y = _training_arrays(x_train, y_train)
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size)
    if on_nonfinite not in ("raise", "warn"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'warn', got {on_nonfinite!r}")
    generator = rng if rng is not None else default_generator()
    errors: list[float] = []
    with _mode(module, training=True):
        for epoch in range(1, epochs + 1):
            order = generator.permutation(len(x)) if shuffle else None
            bar = _progress_bar(progress, len(x), batch_size, epoch, epochs)
            try:
                outcome = _epoch(module, loss, optimizer, x, y, order, batch_size, bar)
            except BaseException:
                # An interrupted batch must not leave gradients for the next train() to apply.
                optimizer.zero_gradients()
                raise
            finally:
                if bar is not None:
                    bar.close()
            total, diverged = outcome
            if diverged is not None:
                batch, value = diverged
                _report_nonfinite(
                    module, x, order, batch, batch_size, value, epoch, optimizer, on_nonfinite
                )
                return errors
            error = total / len(x)
            errors.append(error)
            if verbose:
                print(f"{epoch}/{epochs} error={error:.5f}")
            if callback is not None:
                callback(epoch, error)
    return errors


@contextmanager
def _mode(module: Module, *, training: bool) -> Iterator[None]:
    """Put ``module`` in training or evaluation mode, and restore the mode it was in."""
    was_training = module.training
    module.train(training)
    try:
        yield
    finally:
        module.train(was_training)


EpochOutcome = tuple[float, "tuple[int, float | None] | None"]
"""The sum of batch losses times batch sizes, and (batch number, loss) if a loss diverged."""


def _epoch(
    module: Module,
    loss: Loss,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    order: np.ndarray | None,
    batch_size: int,
    bar: tqdm | None,
) -> EpochOutcome:
    """One epoch on the backend's training plan when it has one, else layer by layer."""
    runner = _plan_runner(module, loss, optimizer, x, y)
    if runner is not None:
        return _planned_epoch(runner, x, y, order, batch_size, bar)
    return _layer_by_layer_epoch(module, loss, optimizer, x, y, order, batch_size, bar)


def _plan_runner(
    module: Module, loss: Loss, optimizer: Optimizer, x: np.ndarray, y: np.ndarray
) -> PlanRunner | None:
    # Built afresh each epoch: a schedule may have changed the learning rate in between.
    plan = training_plan(module, loss, optimizer, x.shape[1], y.shape[1])
    return current_backend().plan_runner(plan) if plan is not None else None


def _layer_by_layer_epoch(
    module: Module,
    loss: Loss,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    order: np.ndarray | None,
    batch_size: int,
    bar: tqdm | None,
) -> EpochOutcome:
    total = 0.0
    for batch, (xb, yb) in enumerate(_batches(x, y, batch_size, order), start=1):
        output = module.forward(xb)
        value = loss.loss(yb, output)
        if not math.isfinite(value):
            return total, (batch, value)
        total += value * len(xb)
        backpropagate(module, loss, yb, output)
        optimizer.step()
        optimizer.zero_gradients()
        if bar is not None:
            bar.update(1)
    return total, None


def _planned_epoch(
    runner: PlanRunner,
    x: np.ndarray,
    y: np.ndarray,
    order: np.ndarray | None,
    batch_size: int,
    bar: tqdm | None,
) -> EpochOutcome:
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    y32 = np.ascontiguousarray(y, dtype=np.float32)
    # Chunks of whole batches keep the progress bar moving and Ctrl-C responsive.
    chunk = batch_size * max(1, _PLAN_CHUNK_SAMPLES // batch_size)
    total = 0.0
    for start in range(0, len(x32), chunk):
        stop = min(start + chunk, len(x32))
        if order is None:
            outcome = runner.run(x32[start:stop], y32[start:stop], None, batch_size)
        else:
            outcome = runner.run(x32, y32, order[start:stop], batch_size)
        total += outcome.loss_sum
        if outcome.diverged:
            return total, (start // batch_size + outcome.batches + 1, None)
        if bar is not None:
            bar.update(math.ceil((stop - start) / batch_size))
    return total, None


_PLAN_CHUNK_SAMPLES = 4096


def _progress_bar(
    enabled: bool, samples: int, batch_size: int, epoch: int, epochs: int
) -> tqdm | None:
    if not enabled:
        return None
    return tqdm(
        total=math.ceil(samples / batch_size),
        desc=f"epoch {epoch}/{epochs}",
        unit="batch",
        leave=False,
    )


def backpropagate(module: Module, loss: Loss, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    """Send the gradient of ``loss`` back through ``module``.

    A ``Sequential`` ending in ``Softmax`` under ``CrossEntropy`` gets the fused gradient
    ``(y_pred - y_true) / samples`` at the softmax's inputs, which is exact and stable.
    """
    if (
        isinstance(module, Sequential)
        and module.modules
        and type(module.modules[-1]) is Softmax
        and isinstance(loss, CrossEntropy)
    ):
        module.backward_before_last(loss.softmax_input_grad(y_true, y_pred))
    else:
        module.backward(loss.loss_prime(y_true, y_pred))


def evaluate(
    module: Module, x_test: np.ndarray, y_test: np.ndarray, loss: Loss, batch_size: int = 1024
) -> float:
    """Return the mean loss of ``module`` over the samples (same figure as the article's loop)."""
    x, y = _training_arrays(x_test, y_test)
    batch_size = _positive_int("batch_size", batch_size)
    with _mode(module, training=False):
        total = sum(
            loss.loss(yb, module.forward(xb)) * len(xb)
            for xb, yb in _batches(x, y, batch_size, None)
        )
    return total / len(x)


def predict(module: Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Return the outputs of ``module`` for every sample, as rows ``(N, outputs)``, computed in
    evaluation mode (the mode the module was in is restored)."""
    rows = _as_samples(x, "x")
    batch_size = _positive_int("batch_size", batch_size)
    with _mode(module, training=False):
        parts = [module.forward(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]
    return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)


def accuracy(module: Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> float:
    """Return the fraction of samples whose highest output is the true class.

    ``y`` holds class indices ``(N,)`` or one-hot rows ``(N, classes)`` / ``(N, classes, 1)``.
    """
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = _as_samples(labels, "y").argmax(axis=1)
    predicted = predict(module, x, batch_size).argmax(axis=1)
    if len(predicted) != len(labels):
        raise ValueError(f"accuracy: x has {len(predicted)} samples but y has {len(labels)}")
    return float(np.mean(predicted == labels)) if len(labels) else 0.0


def _training_arrays(x_train: object, y_train: object) -> tuple[np.ndarray, np.ndarray]:
    x = _as_samples(x_train, "x_train")
    y = _as_samples(y_train, "y_train")
    if len(x) != len(y):
        raise ValueError(f"x_train has {len(x)} samples but y_train has {len(y)}")
    if len(x) == 0:
        raise ValueError("the training data is empty (0 samples)")
    return x, y


def _as_samples(value: object, what: str) -> np.ndarray:
    """Return samples as ``(N, features)`` rows, accepting the article's ``(N, features, 1)``."""
    array = as_float_array(value, None, None, what)
    if array.ndim == 3 and array.shape[2] == 1:
        return array.reshape(array.shape[0], array.shape[1])
    if array.ndim == 1:
        return array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(
            f"{what} must be shaped (N, features) or (N, features, 1); got shape {array.shape}"
        )
    return array


def _batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(x), batch_size):
        if order is None:
            yield x[start : start + batch_size], y[start : start + batch_size]
        else:
            index = order[start : start + batch_size]
            yield x[index], y[index]


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _report_nonfinite(
    module: Module,
    x: np.ndarray,
    order: np.ndarray | None,
    batch: int,
    batch_size: int,
    value: float | None,
    epoch: int,
    optimizer: Optimizer,
    mode: str,
) -> None:
    rate = getattr(optimizer, "learning_rate", None)
    hint = f" (learning_rate={rate}); try a smaller one" if rate is not None else ""
    loss = f"is {value}" if value is not None else "is not finite"
    start = (batch - 1) * batch_size
    index = (
        order[start : start + batch_size] if order is not None else slice(start, start + batch_size)
    )
    culprit = _first_nonfinite_part(module, x[index])
    where = f" {culprit}." if culprit else ""
    message = (
        f"training diverged: the loss {loss} at epoch {epoch}, batch {batch}{hint}.{where} "
        "Training stopped."
    )
    if mode == "raise":
        raise TrainingDivergedError(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _first_nonfinite_part(module: Module, rows: np.ndarray) -> str | None:
    """Say which part went wrong first: the first whose parameters are not finite (the
    previous update made them so), else the first whose outputs on the batch are not."""
    parts = module.children() or [module]
    for part in parts:
        if any(not np.isfinite(param).all() for param in part.parameters()):
            return (
                f"The parameters of {_describe(part)} are no longer finite: its gradient did "
                "not stay finite (check its backward if it is your own layer)"
            )
    if len(parts) < 2:
        return None
    with _mode(module, training=False), np.errstate(all="ignore"):
        for part in parts:
            try:
                rows = part.forward(rows)
            except Exception:
                return None
            if not np.isfinite(rows).all():
                return f"{_describe(part)} gave outputs that are not finite"
    return None


def _describe(part: Module) -> str:
    """A part's repr, with the plugin that provided it if it is not nnplug's own."""
    name = layers.name_of(type(part))
    if name is None or layers.provider(name).distribution == "nnplug":
        return repr(part)
    return f"{part!r} (layer {name!r} of {layers.provider(name).describe()})"
