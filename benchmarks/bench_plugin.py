"""Training speed of a plugin layer's C kernels: the article's model with the example plugin's
Swish in place of each Tanh.

    python benchmarks/bench_plugin.py [--mnist DIR] [--rounds 3]

Trains 784-100-50-10 (softmax + cross-entropy, SGD momentum 0.9, float32; learning rate
0.001 at batch 1, 0.01 otherwise) for one epoch on nnplug's C backend at batch sizes 1, 64
and 256, three ways: with Tanh (built-in kernels), with Swish running its C kernels
(csrc/swish.c of plugins/nnplug-example) inside the training plan, and with Swish's C kernels
disabled (its NumPy definition, a Python step in the plan). Prints samples per second, best
of ``--rounds`` interleaved rounds (the three take turns, so a noisy machine slows all of
them alike), and the ratios to the Tanh model. Needs ``pip install ./plugins/nnplug-example``.
Batch 1 runs on the first ``--batch1-samples`` images, the others on all of them.

OpenBLAS runs its best kernel only with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset; this
script unsets them for itself (it re-executes once).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import ClassVar

import harness

harness.without_slow_blas()

import numpy as np  # noqa: E402  (after the re-exec, so OpenBLAS sees the clean environment)

import nnplug  # noqa: E402
from nnplug import losses, modules, optimizers, recipes, trainer  # noqa: E402

try:
    from nnplug_swish import Swish
    from nnplug_swish.swish import KERNELS
except ImportError:
    sys.exit("bench_plugin.py needs the example plugin: pip install ./plugins/nnplug-example")


class SwishWithoutKernels(Swish):
    """The same Swish, with its C kernels disabled: the plan calls its NumPy definition."""

    c_kernels: ClassVar[None] = None


def article_model(activation: Callable[[], modules.Module]) -> modules.Sequential:
    """784-100-50-10 with ``activation`` after each of the first two linear layers."""
    nnplug.seed(0)
    return modules.Sequential(
        [
            modules.Linear(784, 100),
            activation(),
            modules.Linear(100, 50),
            activation(),
            modules.Linear(50, 10),
            modules.Softmax(),
        ]
    )


MODELS: dict[str, Callable[[], modules.Module]] = {
    "tanh": modules.Tanh,
    "swish C": Swish,
    "swish NumPy": SwishWithoutKernels,
}


def load_data(mnist_dir: str | None, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (x_train, one-hot targets): real MNIST, or random stand-ins."""
    if mnist_dir:
        from nnplug.datasets import download_mnist

        x_train, y_train, _, _ = download_mnist(mnist_dir, download=False)
        return recipes.prepare_mnist(x_train, y_train)
    rng = np.random.default_rng(0)
    x = rng.random((samples, 784), dtype=np.float32)
    return x, nnplug.preprocessing.one_hot(rng.integers(0, 10, samples), 10)


def epoch_seconds(activation: Callable[[], modules.Module], x, targets, batch_size: int) -> float:
    """Seconds of one training epoch of the article model with ``activation``."""
    model = article_model(activation)
    optimizer = optimizers.SGD(
        model, learning_rate=0.001 if batch_size == 1 else 0.01, momentum=0.9
    )
    started = time.perf_counter()
    trainer.train(model, x, targets, losses.CrossEntropy(), optimizer, 1, batch_size, verbose=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mnist",
        default=os.environ.get("NNPLUG_DATA_DIR"),
        help="directory with the MNIST files (default: $NNPLUG_DATA_DIR)",
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--batch1-samples", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if KERNELS is None:
        sys.exit("the example plugin was installed without its C kernels (no C compiler?)")

    x_all, targets_all = load_data(args.mnist, 60000)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, nnplug "
        f"{nnplug.__version__}, threads {nnplug.get_num_threads()}"
    )
    print(
        f"data: {'MNIST from ' + args.mnist if args.mnist else 'random stand-in'}; C backend; "
        f"best of {args.rounds} interleaved rounds; samples/s (higher is better)\n"
    )
    names = list(MODELS)
    header = f"{'batch':>5} | " + " | ".join(f"{name:>12}" for name in names)
    print(header + " | swish C/tanh | swish NumPy/tanh | C/NumPy swish")
    print("-" * len(header) + "-+--------------+------------------+--------------")
    with nnplug.use_backend("c"):
        for batch_size in args.batch_sizes:
            count = args.batch1_samples if batch_size == 1 else len(x_all)
            x, targets = x_all[:count], targets_all[:count]
            best = dict.fromkeys(names, float("inf"))
            for _ in range(args.rounds):
                for name in names:
                    seconds = epoch_seconds(MODELS[name], x, targets, batch_size)
                    best[name] = min(best[name], seconds)
            rate = {name: count / best[name] for name in names}
            cells = " | ".join(f"{rate[name]:>12,.0f}" for name in names)
            print(
                f"{batch_size:>5} | {cells} | {rate['swish C'] / rate['tanh']:11.2f}x | "
                f"{rate['swish NumPy'] / rate['tanh']:15.2f}x | "
                f"{rate['swish C'] / rate['swish NumPy']:12.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
