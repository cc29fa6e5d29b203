"""Training speed of the CNN recipe's model: nnplug against PyTorch (and JAX, if installed).

    python benchmarks/bench_cnn.py [--mnist DIR] [--samples 6400] [--batch-size 64]

Trains conv(1->32, 5x5) relu maxpool(2) conv(32->64, 5x5) relu maxpool(2) flatten
linear(1024->128) relu linear(128->10) with softmax + cross-entropy and Adam (learning
rate 0.001), float32, over the same ``--samples`` images in the same order, and prints
training samples per second (the best of ``--repeat`` rounds in
which the libraries take turns, which evens out a shared machine's changing load; each
turn in a child process of its own) and the ratios to nnplug's.
Real MNIST with ``--mnist DIR`` (or ``$NNPLUG_DATA_DIR``), else random images. PyTorch and
JAX are optional (``pip install ".[bench]"``); each is skipped when missing.

OpenBLAS runs its best kernel only with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset; this
script unsets them for itself (it re-executes once).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from functools import partial

import harness

harness.without_slow_blas()

import numpy as np  # noqa: E402  (after the re-exec, so OpenBLAS sees the clean environment)

import nnplug  # noqa: E402
from nnplug import losses, optimizers, recipes, trainer  # noqa: E402

LEARNING_RATE = 0.001


def load_data(mnist_dir: str | None, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``samples`` images as float32 rows of 784 pixels in [0, 1] and their labels."""
    if mnist_dir:
        from nnplug.datasets import download_mnist

        x_train, y_train, _, _ = download_mnist(mnist_dir, download=False)
        x = recipes.prepare_mnist(x_train, y_train)[0]
        return x[:samples], y_train[:samples].astype(np.int64)
    rng = np.random.default_rng(0)
    return rng.random((samples, 784), dtype=np.float32), rng.integers(0, 10, samples)


def nnplug_seconds(backend: str, x: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
    """Seconds nnplug takes for one pass over ``x`` on ``backend``."""
    with nnplug.use_backend(backend):
        nnplug.seed(0)
        model = recipes.cnn_mnist_model()
        targets = nnplug.preprocessing.one_hot(labels, 10)
        optimizer = optimizers.Adam(model, learning_rate=LEARNING_RATE)
        started = time.perf_counter()
        trainer.train(
            model, x, targets, losses.CrossEntropy(), optimizer, 1, batch_size, verbose=False
        )
        return time.perf_counter() - started


def torch_seconds(x: np.ndarray, labels: np.ndarray, batch_size: int) -> float | None:
    """Seconds PyTorch (CPU, its default threads) takes for one pass; None without it."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1024, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    # CrossEntropyLoss applies log-softmax itself: the same model as Softmax + CrossEntropy.
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    inputs = torch.from_numpy(np.ascontiguousarray(x.reshape(-1, 1, 28, 28)))
    targets = torch.from_numpy(labels)
    started = time.perf_counter()
    for start in range(0, len(inputs), batch_size):
        optimizer.zero_grad()
        batch = slice(start, start + batch_size)
        loss = loss_fn(model(inputs[batch]), targets[batch])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def jax_seconds(x: np.ndarray, labels: np.ndarray, batch_size: int) -> float | None:
    """Seconds JAX (CPU, jit-compiled step; compilation excluded) takes; None without it."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    keys = jax.random.split(jax.random.PRNGKey(0), 4)

    def he(key, shape, fan_in):
        return jax.random.normal(key, shape) * np.sqrt(2.0 / fan_in)

    params = [
        (he(keys[0], (32, 1, 5, 5), 25), jnp.zeros(32)),
        (he(keys[1], (64, 32, 5, 5), 800), jnp.zeros(64)),
        (he(keys[2], (1024, 128), 1024), jnp.zeros(128)),
        (he(keys[3], (128, 10), 128), jnp.zeros(10)),
    ]

    def conv_relu_pool(images, weights, bias):
        out = jax.lax.conv_general_dilated(images, weights, (1, 1), "VALID")
        out = jax.nn.relu(out + bias[None, :, None, None])
        return jax.lax.reduce_window(
            out, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID"
        )

    def loss(params, images, onehot):
        out = conv_relu_pool(images, *params[0])
        out = conv_relu_pool(out, *params[1]).reshape(len(images), -1)
        out = jax.nn.relu(out @ params[2][0] + params[2][1])
        logits = out @ params[3][0] + params[3][1]
        return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(logits), axis=1))

    def adam_init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return zeros, zeros, 0

    @jax.jit
    def step(params, m, v, t, images, onehot):
        grads = jax.grad(loss)(params, images, onehot)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, grads)
        scale = LEARNING_RATE * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - scale * m / (jnp.sqrt(v) + 1e-8), params, m, v
        )
        return params, m, v, t

    images = x.reshape(-1, 1, 28, 28)
    onehot = np.eye(10, dtype=np.float32)[labels]
    m, v, t = adam_init(params)
    full = len(images) // batch_size * batch_size
    # One step first, so that compiling is not timed (a ragged last batch is left out).
    jax.block_until_ready(step(params, m, v, t, images[:batch_size], onehot[:batch_size]))
    started = time.perf_counter()
    for start in range(0, full, batch_size):
        batch = slice(start, start + batch_size)
        params, m, v, t = step(params, m, v, t, images[batch], onehot[batch])
    jax.block_until_ready(params)
    return (time.perf_counter() - started) * len(images) / max(full, 1)


def versions() -> str:
    found = [f"NumPy {np.__version__}", f"nnplug {nnplug.__version__}"]
    for name in ("torch", "jax"):
        try:
            found.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            pass
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mnist",
        default=os.environ.get("NNPLUG_DATA_DIR"),
        help="directory with the MNIST files (default: $NNPLUG_DATA_DIR; else random images)",
    )
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backends", nargs="+", default=["c"])
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best of each counts")
    parser.add_argument("--no-peers", action="store_true", help="skip PyTorch and JAX")
    args = parser.parse_args()

    x, labels = load_data(args.mnist, args.samples)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {versions()}"
    )
    print(
        f"CNN recipe model, batch {args.batch_size}, {len(x)} samples, "
        f"best of {args.repeat} rounds (the contenders take turns within each round)"
    )
    runs = {f"nnplug-{backend}": partial(nnplug_seconds, backend) for backend in args.backends}
    if not args.no_peers:
        runs.update(torch=torch_seconds, jax=jax_seconds)
    best: dict[str, float | None] = {}
    for _ in range(args.repeat):
        for name, run in runs.items():
            seconds = harness.in_child(run, x, labels, args.batch_size)
            if seconds is None:
                best[name] = None
            else:
                best[name] = min(seconds, best.get(name) or seconds)
    rates = {name: None if sec is None else len(x) / sec for name, sec in best.items()}
    first = f"nnplug-{args.backends[0]}"
    for name, rate in rates.items():
        if rate is None:
            print(f"  {name:<12} not installed")
        elif name == first:
            print(f"  {name:<12} {rate:9.0f} samples/s")
        else:
            print(
                f"  {name:<12} {rate:9.0f} samples/s   {first} / {name}: {rates[first] / rate:.2f}x"
            )


if __name__ == "__main__":
    main()
