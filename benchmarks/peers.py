"""The article's model trained by PyTorch and by scikit-learn, for the speed comparison.

Both are optional (``pip install ".[bench]"``); each function returns None when its library
is missing. The model: 784-100-50-10, tanh, softmax + cross-entropy, SGD with momentum 0.9,
float32, one epoch in the given order.
"""

from __future__ import annotations

import time
import warnings

import numpy as np


def torch_train_seconds(
    x: np.ndarray, labels: np.ndarray, batch_size: int, learning_rate: float
) -> float | None:
    """Seconds PyTorch (CPU) takes for one epoch over ``x``; None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 100),
        torch.nn.Tanh(),
        torch.nn.Linear(100, 50),
        torch.nn.Tanh(),
        torch.nn.Linear(50, 10),
    )
    # CrossEntropyLoss applies log-softmax itself: the same model as Softmax + CrossEntropy.
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
    inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    targets = torch.from_numpy(labels.astype(np.int64))
    started = time.perf_counter()
    for start in range(0, len(inputs), batch_size):
        optimizer.zero_grad()
        batch = slice(start, start + batch_size)
        loss = loss_fn(model(inputs[batch]), targets[batch])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def sklearn_train_seconds(
    x: np.ndarray, labels: np.ndarray, batch_size: int, learning_rate: float
) -> float | None:
    """Seconds scikit-learn's MLPClassifier takes for one epoch over ``x``; None without it."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    model = MLPClassifier(
        hidden_layer_sizes=(100, 50),
        activation="tanh",
        solver="sgd",
        learning_rate_init=learning_rate,
        momentum=0.9,
        nesterovs_momentum=False,
        batch_size=batch_size,
        max_iter=1,
        shuffle=False,
        alpha=0.0,
        random_state=0,
    )
    data = np.ascontiguousarray(x, dtype=np.float32)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data, labels)
    return time.perf_counter() - started


def versions() -> dict[str, str]:
    """Versions of the peer libraries that are installed."""
    found = {}
    for name in ("torch", "sklearn"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        found[name] = module.__version__
    return found
