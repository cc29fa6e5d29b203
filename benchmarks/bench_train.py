"""Training speed of the article's model: nnplug against PyTorch, scikit-learn and JAX.

    python benchmarks/bench_train.py [--mnist DIR] [--repeat 3]

Trains 784-100-50-10 (tanh, softmax + cross-entropy, SGD momentum 0.9, float32; learning
rate 0.001 at batch 1 as in the article, 0.01 otherwise) for one epoch at batch sizes 1,
64 and 256 with nnplug's C and NumPy backends and, when installed (``pip install
".[bench]"``), PyTorch, scikit-learn and JAX (a jitted step per batch, and the whole epoch
as one ``lax.scan``, compilation excluded), each peer in a child process of its own so that
its thread pools cannot slow the others (nnplug's backends too: the NumPy one's OpenBLAS
threads spin for a while after it), all in this one run on the same data, and
prints training samples per second and the ratios. The contenders take turns: each of
``--repeat`` rounds times every one of them once, and each figure is its best round, so a
shared machine's changing load reaches all of them alike. A second table trains variants
on nnplug's C backend, in rounds with plain SGD again: Adam, RMSprop, Dropout(0.2) after
each Tanh, and a pure-NumPy plugin-style Swish in place of the first Tanh, on the training
plan and forced layer by layer. Last, the batch-256 training rate in GFLOP/s against NumPy's sgemm
on a 2048x2048 product, measured in the same run.
Batch 1 runs on the first ``--batch1-samples`` images, the others on all of them.
With real MNIST (``--mnist DIR`` or ``$NNPLUG_DATA_DIR``) it also prints the test accuracy
after the epoch, for the nnplug backends.

OpenBLAS (inside NumPy and scikit-learn) runs its best kernel only with OPENBLAS_CORETYPE
and OPENBLAS_L2_SIZE unset; this script unsets them for itself (it re-executes once).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported from elsewhere

import harness  # noqa: E402

harness.without_slow_blas()

import numpy as np  # noqa: E402  (after the re-exec, so OpenBLAS sees the clean environment)
import peers  # noqa: E402
from layer_by_layer import LayerByLayerC  # noqa: E402

import nnplug  # noqa: E402
from nnplug import losses, modules, optimizers, recipes, trainer  # noqa: E402

PEERS = {
    "torch": peers.torch_train_seconds,
    "sklearn": peers.sklearn_train_seconds,
    "jax-step": partial(peers.jax_train_seconds, scan=False),
    "jax-scan": partial(peers.jax_train_seconds, scan=True),
}
# Training FLOPs of one sample: the three products of each layer (forward, input and weight
# gradients), less the first layer's input gradient, which nothing needs.
LAYERS = ((784, 100), (100, 50), (50, 10))
FLOPS_PER_SAMPLE = 3 * sum(2 * a * b for a, b in LAYERS) - 2 * 784 * 100


class Swish(modules.Activation):
    """x * sigmoid(x) in NumPy, as a pure-Python plugin layer would write it."""

    def activation(self, inputs):  # noqa: ANN001, ANN201
        return inputs / (1 + np.exp(-inputs))

    def activation_prime(self, inputs):  # noqa: ANN001, ANN201
        s = 1 / (1 + np.exp(-inputs))
        return s + inputs * s * (1 - s)


def learning_rate(batch_size: int) -> float:
    """The article's 0.001 for per-sample SGD (0.01 diverges there), 0.01 for mini-batches."""
    return 0.001 if batch_size == 1 else 0.01


def load_data(mnist_dir: str | None, samples: int) -> tuple[np.ndarray, ...]:
    """Return (x_train, labels_train, x_test, labels_test), real MNIST or random stand-ins."""
    if mnist_dir:
        from nnplug.datasets import download_mnist

        x_train, y_train, x_test, y_test = download_mnist(mnist_dir, download=False)
        return (
            recipes.prepare_mnist(x_train, y_train)[0],
            y_train.astype(np.int64),
            recipes.prepare_mnist(x_test, y_test)[0],
            y_test.astype(np.int64),
        )
    rng = np.random.default_rng(0)
    x = rng.random((samples, 784), dtype=np.float32)
    labels = rng.integers(0, 10, samples)
    return x, labels, None, None


def article_model(dropout: float = 0.0, first: type = modules.Tanh) -> modules.Sequential:
    """784-100-50-10 with tanh (optionally another first activation, dropout after each)."""
    nnplug.seed(0)
    layers: list[modules.Module] = [modules.Linear(784, 100), first()]
    layers += [modules.Dropout(dropout)] if dropout else []
    layers += [modules.Linear(100, 50), modules.Tanh()]
    layers += [modules.Dropout(dropout)] if dropout else []
    return modules.Sequential([*layers, modules.Linear(50, 10), modules.Softmax()])


VARIANTS = {
    "sgd": (article_model, optimizers.SGD, "c"),
    "adam": (article_model, optimizers.Adam, "c"),
    "rmsprop": (article_model, optimizers.RMSprop, "c"),
    "dropout": (partial(article_model, 0.2), optimizers.SGD, "c"),
    "swish": (partial(article_model, first=Swish), optimizers.SGD, "c"),
    "swish-layers": (partial(article_model, first=Swish), optimizers.SGD, LayerByLayerC()),
}


def nnplug_run(
    backend: str | nnplug.backends.Backend,
    x: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    variant: str = "sgd",
) -> tuple[float, nnplug.modules.Module]:
    """Seconds one epoch of ``variant`` takes on ``backend``, and the trained model."""
    make_model, make_optimizer, _ = VARIANTS[variant]
    with nnplug.use_backend(backend):
        model = make_model()
        targets = nnplug.preprocessing.one_hot(labels, 10)
        if make_optimizer is optimizers.SGD:
            optimizer = make_optimizer(model, learning_rate=learning_rate(batch_size), momentum=0.9)
        else:  # Adam's and RMSprop's own default rates suit them
            optimizer = make_optimizer(model)
        started = time.perf_counter()
        trainer.train(
            model, x, targets, losses.CrossEntropy(), optimizer, 1, batch_size, verbose=False
        )
        return time.perf_counter() - started, model


def variant_seconds(name: str, x: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
    """Seconds one epoch of variant ``name`` takes on its backend."""
    return nnplug_run(VARIANTS[name][2], x, labels, batch_size, name)[0]


def sgemm_gflops(repeat: int = 5) -> float:
    """NumPy's float32 matrix product of two 2048x2048 matrices, in GFLOP/s (best run)."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((2048, 2048), dtype=np.float32) for _ in range(2))
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeat))
    return 2 * 2048**3 / best / 1e9


def _timed(function) -> float:  # noqa: ANN001
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def interleaved_rates(
    runs: dict[str, Callable[[], float | None]], samples: int, rounds: int
) -> dict[str, float | None]:
    """Samples per second of each run's fastest call over ``rounds`` rounds, in each of which
    every run is called once, in turn (None for a run that is unavailable)."""
    best: dict[str, float | None] = {}
    for _ in range(rounds):
        for name, run in runs.items():
            if name in best and best[name] is None:
                continue
            seconds = run()
            if seconds is None:
                best[name] = None
            else:
                best[name] = min(seconds, best.get(name) or seconds)
    return {name: None if sec is None else samples / sec for name, sec in best.items()}


def measure(
    args: argparse.Namespace,
    x: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    test: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[dict[str, float | None], dict[str, float]]:
    """Samples/s of every contender at ``batch_size``, and each nnplug backend's test
    accuracy after its epoch (with ``test`` data). Every contender, nnplug included, trains
    in a child process of its own, so that no thread pool one leaves spinning (OpenBLAS's,
    under the NumPy backend, say) slows the next."""
    accuracies: dict[str, float] = {}

    def nnplug_seconds(backend: str) -> float:
        seconds, accuracy = harness.in_child(nnplug_epoch, backend, x, labels, batch_size, test)
        if accuracy is not None:
            accuracies[backend] = accuracy
        return seconds

    runs: dict[str, Callable[[], float | None]] = {
        f"nnplug-{backend}": partial(nnplug_seconds, backend) for backend in args.backends
    }
    if not args.no_peers:
        runs.update(
            {
                name: partial(
                    harness.in_child, PEERS[name], x, labels, batch_size, learning_rate(batch_size)
                )
                for name in PEERS
            }
        )
    return interleaved_rates(runs, len(x), args.repeat), accuracies


def nnplug_epoch(
    backend: str,
    x: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    test: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[float, float | None]:
    """Seconds of one SGD epoch on ``backend``, and the test accuracy after it."""
    seconds, model = nnplug_run(backend, x, labels, batch_size)
    return seconds, None if test is None else trainer.accuracy(model, *test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mnist",
        default=os.environ.get("NNPLUG_DATA_DIR"),
        help="directory with the MNIST files (default: $NNPLUG_DATA_DIR)",
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--batch1-samples", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["c", "numpy"])
    parser.add_argument("--no-peers", action="store_true", help="skip PyTorch, scikit-learn, JAX")
    parser.add_argument("--no-variants", action="store_true", help="skip the variants table")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    x_all, labels_all, x_test, labels_test = load_data(args.mnist, 60000)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, nnplug "
        f"{nnplug.__version__}, peers {peers.versions() or 'none installed'}"
    )
    print(
        f"data: {'MNIST from ' + args.mnist if args.mnist else 'random stand-in'}; "
        f"best of {args.repeat} runs; samples/s (higher is better)\n"
    )

    peer_names = [] if args.no_peers else list(PEERS)
    header = f"{'batch':>5} | " + " | ".join(
        f"{name:>12}" for name in [f"nnplug-{b}" for b in args.backends] + peer_names
    )
    print(header + " | c/numpy | c/best peer")
    print("-" * len(header) + "-+---------+------------")
    accuracies = []
    sgd_rates: dict[int, float] = {}
    for batch_size in args.batch_sizes:
        count = args.batch1_samples if batch_size == 1 else len(x_all)
        test = None if x_test is None else (x_test, labels_test)
        rates, trained = measure(args, x_all[:count], labels_all[:count], batch_size, test)
        accuracies += [
            (batch_size, backend, count, accuracy) for backend, accuracy in trained.items()
        ]
        cells = " | ".join(f"{rate:>12,.0f}" if rate else f"{'-':>12}" for rate in rates.values())
        c, numpy_rate = rates.get("nnplug-c"), rates.get("nnplug-numpy")
        peer_rates = [rates[name] for name in peer_names if rates.get(name)]
        vs_numpy = f"{c / numpy_rate:7.2f}x" if c and numpy_rate else f"{'-':>8}"
        vs_peer = f"{c / max(peer_rates):10.2f}x" if c and peer_rates else f"{'-':>11}"
        print(f"{batch_size:>5} | {cells} | {vs_numpy} | {vs_peer}", flush=True)
        if c:
            sgd_rates[batch_size] = c

    if "c" in args.backends and not args.no_variants:
        print("\nvariants on the C backend, samples/s (ratio to SGD, timed in the same rounds):")
        names = [name for name in VARIANTS if name != "sgd"]
        print(f"{'batch':>5} | {'sgd':>9} | " + " | ".join(f"{n:>19}" for n in names))
        for batch_size in args.batch_sizes:
            count = args.batch1_samples if batch_size == 1 else len(x_all)
            x, labels = x_all[:count], labels_all[:count]
            runs = {
                name: partial(variant_seconds, name, x, labels, batch_size) for name in VARIANTS
            }
            rates = interleaved_rates(runs, count, args.repeat)
            base = rates["sgd"]
            cells = []
            for name in names:
                rate = rates[name]
                cells.append(f"{rate:>10,.0f} ({rate / base:4.2f}x)" if rate and base else "-")
            print(
                f"{batch_size:>5} | {base or 0:>9,.0f} | "
                + " | ".join(f"{cell:>19}" for cell in cells),
                flush=True,
            )

    if 256 in sgd_rates:
        gemm = sgemm_gflops()
        training = sgd_rates[256] * FLOPS_PER_SAMPLE / 1e9
        print(
            f"\nbatch 256 training: {training:.1f} GFLOP/s ({FLOPS_PER_SAMPLE / 1e6:.3f} MFLOP a "
            f"sample); NumPy sgemm 2048x2048: {gemm:.1f} GFLOP/s; ratio {training / gemm:.0%}"
        )

    if accuracies:
        print("\ntest accuracy after the timed epoch (same seed, same data order):")
        for batch_size, backend, count, accuracy in accuracies:
            print(f"  batch {batch_size:>3}, {count} images, {backend:>5}: {100 * accuracy:.2f}%")


if __name__ == "__main__":
    main()
