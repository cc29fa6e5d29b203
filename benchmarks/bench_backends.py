"""Training speed of the article's model on nnplug's C backend against its NumPy backend.

    python benchmarks/bench_backends.py [--mnist DIR] [--repeat 2] [--samples 60000]
    python benchmarks/bench_backends.py --kernels

Trains Linear 784-100, Tanh, Linear 100-50, Tanh, Linear 50-10, Softmax with
CrossEntropy and SGD (learning rate 0.01, momentum 0.9) in float32 for one epoch at batch
sizes 1, 64 and 256, through nnplug's public API, on each backend in turn, and prints
training samples per second (best of ``--repeat`` runs) and the C / NumPy ratio.

The C backend trains this model through its training plan (one C call per run of
batches); the "C layers" column trains it one layer call at a time, on the C backend with
its plan turned off.

With ``--kernels`` it instead times the three matrix products of each of the model's
layers (forward ``x W^T + b``, input gradient ``g W``, parameter gradients ``g^T x``)
through both backends at the same batch sizes, in GFLOP/s.

Data: random inputs in [0, 1) with one-hot labels, ``--samples`` of them (a tenth for
batch 1, which is much slower), or real MNIST with ``--mnist DIR``.

OpenBLAS (inside NumPy) runs its best kernels only with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset; this script re-executes itself once without them.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial

import harness

harness.without_slow_blas()

import numpy as np  # noqa: E402  (after the re-exec, so OpenBLAS sees the clean environment)
from layer_by_layer import LayerByLayerC  # noqa: E402

import nnplug  # noqa: E402
from nnplug import losses, modules, optimizers, recipes, trainer  # noqa: E402

BATCH_SIZES = (1, 64, 256)
LEARNING_RATE = 0.01
MOMENTUM = 0.9


def article_model(seed: int = 0) -> modules.Sequential:
    """784-100-50-10 with tanh and softmax, as in the article, with fixed initial weights."""
    nnplug.seed(seed)
    return recipes.article_mnist_model()


def load_data(mnist_dir: str | None, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, 784) float32 in [0, 1] and one-hot targets (N, 10) float32."""
    if mnist_dir:
        from nnplug.datasets import download_mnist

        images, labels, _, _ = download_mnist(mnist_dir, download=False)
        x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    else:
        rng = np.random.default_rng(0)
        x = rng.random((samples, 784), dtype=np.float32)
        labels = rng.integers(0, 10, samples)
    return x[:samples], np.eye(10, dtype=np.float32)[labels[:samples]]


def samples_per_second(
    backend: str | nnplug.backends.Backend,
    optimizer_type: type[optimizers.SGD],
    x: np.ndarray,
    y: np.ndarray,
    batch: int,
) -> float:
    """Training samples per second for one epoch of the article's model on ``backend``."""
    with nnplug.use_backend(backend):
        model = article_model()
        optimizer = optimizer_type(model, learning_rate=LEARNING_RATE, momentum=MOMENTUM)
        start = time.perf_counter()
        trainer.train(model, x, y, losses.CrossEntropy(), optimizer, 1, batch, verbose=False)
        return len(x) / (time.perf_counter() - start)


def kernel_table() -> None:
    """Print GFLOP/s of the dense-layer products through the C and NumPy backends."""
    c, reference = nnplug.get_backend("c"), nnplug.get_backend("numpy")
    rng = np.random.default_rng(0)
    print(f"{'batch x in x out':>17} {'product':>8} {'C us':>8} {'C GF/s':>7}", end="")
    print(f" {'NumPy us':>9} {'NumPy GF/s':>10} {'C/NumPy':>8}")
    for n_in, n_out in ((784, 100), (100, 50), (50, 10)):
        w = rng.standard_normal((n_out, n_in), dtype=np.float32)
        b = rng.standard_normal(n_out, dtype=np.float32)
        for batch in BATCH_SIZES:
            x = rng.standard_normal((batch, n_in), dtype=np.float32)
            g = rng.standard_normal((batch, n_out), dtype=np.float32)
            dw, db = np.zeros_like(w), np.zeros_like(b)
            flops = 2 * batch * n_in * n_out
            for product, method, args in (
                ("forward", "linear_forward", (x, w, b)),
                ("input", "linear_input_grad", (g, w)),
                ("params", "linear_param_grads", (g, x, dw, db)),
            ):
                times = [
                    harness.best_seconds(partial(getattr(backend, method), *args))
                    for backend in (c, reference)
                ]
                speeds = [flops / seconds / 1e9 for seconds in times]
                print(f"{batch:>5} x {n_in:>4} x {n_out:>3} {product:>8}", end="")
                print(f" {times[0] * 1e6:>8.2f} {speeds[0]:>7.1f} {times[1] * 1e6:>9.2f}", end="")
                print(f" {speeds[1]:>10.1f} {times[1] / times[0]:>7.2f}x", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", metavar="DIR", help="train on real MNIST from DIR")
    parser.add_argument("--samples", type=int, default=60000, help="samples for batch > 1")
    parser.add_argument("--repeat", type=int, default=2, help="runs per cell; the best counts")
    parser.add_argument("--kernels", action="store_true", help="time the matrix products instead")
    args = parser.parse_args(argv)

    names = sorted(nnplug.registry.backends)
    if "c" not in names:
        sys.exit("the C backend is not available: build nnplug's extension (pip install -e .)")
    if args.kernels:
        kernel_table()
        return
    x_all, y_all = load_data(args.mnist, args.samples)
    columns = [("C", "c", optimizers.SGD), ("C layers", LayerByLayerC(), optimizers.SGD)]
    columns.append(("NumPy", "numpy", optimizers.SGD))

    from nnplug._c import matmul

    print(f"nnplug {nnplug.__version__}, C kernels at ISA level {matmul.isa_level()}, ", end="")
    print("data: " + (f"MNIST from {args.mnist}" if args.mnist else "random") + ", ", end="")
    print(f"best of {args.repeat}, training samples/s")
    header = f"{'batch':>5} {'samples':>8}" + "".join(f" {title:>10}" for title, _, _ in columns)
    print(header + f" {'C/NumPy':>8} {'layers/NumPy':>12}")
    for batch in BATCH_SIZES:
        count = len(x_all) // 10 if batch == 1 else len(x_all)
        x, y = x_all[:count], y_all[:count]
        speeds = [
            max(samples_per_second(backend, kind, x, y, batch) for _ in range(args.repeat))
            for _, backend, kind in columns
        ]
        cells = "".join(f" {speed:>10.0f}" for speed in speeds)
        ratios = f" {speeds[0] / speeds[2]:>7.2f}x {speeds[1] / speeds[2]:>11.2f}x"
        print(f"{batch:>5} {count:>8}{cells}{ratios}", flush=True)


if __name__ == "__main__":
    main()
