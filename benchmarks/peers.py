"""The article's model trained by PyTorch, scikit-learn and JAX, for the speed comparison.

All are optional (``pip install ".[bench]"``); each function returns None when its library
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


def jax_train_seconds(
    x: np.ndarray, labels: np.ndarray, batch_size: int, learning_rate: float, *, scan: bool
) -> float | None:
    """Seconds JAX (CPU) takes for one epoch, compilation excluded; None without JAX.

    ``scan=False``: one jitted train step per batch, called from Python. ``scan=True``: the
    whole epoch compiled as one ``jax.lax.scan`` over the batches (whole batches only, so a
    final partial batch is left out; the time is scaled to all of ``x``).
    """
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    sizes = [(784, 100), (100, 50), (50, 10)]
    keys = jax.random.split(jax.random.PRNGKey(0), len(sizes))
    params = [
        (
            jax.random.uniform(key, (n_in, n_out), minval=-1, maxval=1)
            * np.sqrt(6 / (n_in + n_out)),
            jnp.zeros(n_out),
        )
        for key, (n_in, n_out) in zip(keys, sizes, strict=True)
    ]
    velocity = jax.tree_util.tree_map(jnp.zeros_like, params)

    def loss(params, inputs, onehot):
        out = inputs
        for weights, bias in params[:-1]:
            out = jnp.tanh(out @ weights + bias)
        logits = out @ params[-1][0] + params[-1][1]
        return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(logits), axis=1))

    def step(state, batch):
        params, velocity = state
        grads = jax.grad(loss)(params, *batch)
        velocity = jax.tree_util.tree_map(lambda v, g: 0.9 * v + learning_rate * g, velocity, grads)
        params = jax.tree_util.tree_map(lambda p, v: p - v, params, velocity)
        return (params, velocity), None

    inputs = jnp.asarray(np.ascontiguousarray(x, dtype=np.float32))
    onehot = jax.nn.one_hot(jnp.asarray(labels), 10)
    if scan:
        whole = len(inputs) // batch_size * batch_size
        batches = (
            inputs[:whole].reshape(-1, batch_size, 784),
            onehot[:whole].reshape(-1, batch_size, 10),
        )
        epoch = jax.jit(lambda state, batches: jax.lax.scan(step, state, batches)[0])
        jax.block_until_ready(epoch((params, velocity), batches))  # compile
        started = time.perf_counter()
        jax.block_until_ready(epoch((params, velocity), batches))
        return (time.perf_counter() - started) * len(inputs) / whole
    jitted = jax.jit(step)
    for start in {0, len(inputs) - (len(inputs) % batch_size or batch_size)}:  # compile shapes
        batch = (inputs[start : start + batch_size], onehot[start : start + batch_size])
        jax.block_until_ready(jitted((params, velocity), batch))
    state = (params, velocity)
    started = time.perf_counter()
    for start in range(0, len(inputs), batch_size):
        state, _ = jitted(
            state, (inputs[start : start + batch_size], onehot[start : start + batch_size])
        )
    jax.block_until_ready(state)
    return time.perf_counter() - started


def versions() -> dict[str, str]:
    """Versions of the peer libraries that are installed."""
    found = {}
    for name in ("torch", "sklearn", "jax"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        found[name] = module.__version__
    return found
