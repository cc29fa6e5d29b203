"""GFLOP/s of the C convolution kernels on the CNN recipe's two layers, against NumPy's sgemm.

    python benchmarks/bench_conv.py [--batch-size 64] [--repeat 20]

Times the forward pass, the input gradient and the weight + bias gradients of
conv(1->32, 5x5) on 28x28 images and conv(32->64, 5x5) on 12x12 ones (the recipe's
layers) on the C backend, with one thread and with nnplug's default thread count, and
NumPy's float32 matrix product of two 2048x2048 matrices (OpenBLAS, its default threads),
all in this one run; prints each figure and its ratio to sgemm's (sgemm is timed again
at the end, to show how much a shared machine's load moved meanwhile). Each figure is the best
of ``--repeat`` calls. A convolution counts 2 * batch * out_h * out_w * out_channels *
in_channels * kh * kw floating-point operations, as does each of its two gradients.

OpenBLAS runs its best kernel only with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset; this
script unsets them for itself (it re-executes once).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import harness

harness.without_slow_blas()

import numpy as np  # noqa: E402  (after the re-exec, so OpenBLAS sees the clean environment)

from nnplug import threads  # noqa: E402
from nnplug.backends import get_backend  # noqa: E402

# (in_channels, image side, out_channels), 5x5 kernels, stride 1, no padding.
LAYERS = [(1, 28, 32), (32, 12, 64)]


def best_seconds(call: Callable[[], object], repeat: int) -> float:
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def sgemm_gflops(repeat: int) -> float:
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((2048, 2048)).astype(np.float32)
    return 2 * 2048**3 / best_seconds(lambda: a @ b, max(repeat // 4, 3)) / 1e9


def layer_gflops(
    channels: int, side: int, out_channels: int, batch: int, repeat: int
) -> list[tuple[str, float]]:
    """(label, GFLOP/s) of the three kernels of one 5x5 convolution layer."""
    backend = get_backend("c")
    rng = np.random.default_rng(0)
    x = rng.random((batch, channels, side, side), dtype=np.float32)
    weights = (0.1 * rng.standard_normal((out_channels, channels, 5, 5))).astype(np.float32)
    bias = np.zeros(out_channels, np.float32)
    grad = rng.standard_normal((batch, out_channels, side - 4, side - 4)).astype(np.float32)
    dw, db = np.zeros_like(weights), np.zeros_like(bias)
    one, none = (1, 1), (0, 0)
    flops = 2 * batch * (side - 4) ** 2 * out_channels * channels * 25
    calls = {
        "forward": lambda: backend.conv2d_forward(x, weights, bias, one, none),
        "input grad": lambda: backend.conv2d_input_grad(grad, weights, (side, side), one, none),
        "weight grads": lambda: backend.conv2d_param_grads(grad, x, dw, db, one, none),
    }
    return [
        (
            f"conv {channels}->{out_channels} on {side}x{side}, {name}",
            flops / best_seconds(call, repeat) / 1e9,
        )
        for name, call in calls.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    sgemm = sgemm_gflops(args.repeat)
    print(f"NumPy sgemm 2048x2048 (OpenBLAS, default threads): {sgemm:6.1f} GFLOP/s")
    default = threads.get_num_threads()
    for count in sorted({1, default}):
        threads.set_num_threads(count)
        print(f"C kernels, batch {args.batch_size}, {count} thread{'s' if count > 1 else ''}:")
        figures = [
            f for layer in LAYERS for f in layer_gflops(*layer, args.batch_size, args.repeat)
        ]
        for label, gflops in figures:
            print(f"  {label:<40} {gflops:6.1f} GFLOP/s  {100 * gflops / sgemm:5.1f}% of sgemm")
    threads.set_num_threads(default)
    # The machine may be shared: a second sgemm figure shows how much the load moved.
    print(
        f"NumPy sgemm 2048x2048 again, at the end:         {sgemm_gflops(args.repeat):6.1f} GFLOP/s"
    )


if __name__ == "__main__":
    main()
