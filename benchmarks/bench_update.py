"""Time of one optimizer update (SGD with momentum, Adam, RMSprop) on the C backend.

    python benchmarks/bench_update.py [--sizes 4000 84060]

Calls the C kernels (``nnp_sgd_step``, ``nnp_adam_step``, ``nnp_rmsprop_step``) directly,
without the Python wrappers' checks, on float32 buffers of each size, and prints the best
time of one update (microseconds, over 7 rounds of about 50 ms each) and its ratio to
SGD's. 4,000 floats fit in L1 beside their state; 84,060 is the article model's parameter
count, the update the training plan applies after every sample at batch 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import harness
import numpy as np
from nnplug._native import ffi, lib


def updates(size: int) -> dict[str, Callable[[], object]]:
    """One call of each rule's kernel on fresh buffers of ``size`` floats."""
    rng = np.random.default_rng(0)
    param, grad, state0 = (rng.standard_normal(size).astype(np.float32) * 0.01 for _ in range(3))
    state1 = np.abs(rng.standard_normal(size).astype(np.float32)) * 1e-4
    # Each cdata keeps its array alive.
    p, g, s0, s1 = (ffi.from_buffer("float[]", a) for a in (param, grad, state0, state1))
    return {
        "sgd": lambda: lib.nnp_sgd_step(size, p, g, s0, 0.01, 0.9),
        "adam": lambda: lib.nnp_adam_step(size, p, g, s0, s1, 0.001, 0.9, 0.999, 1e-8, 10),
        "rmsprop": lambda: lib.nnp_rmsprop_step(size, p, g, s0, 0.001, 0.9, 1e-8),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 84060])
    args = parser.parse_args()
    print("floats | " + " | ".join(f"{name:>18}" for name in ("sgd", "adam", "rmsprop")))
    for size in args.sizes:
        times = {name: harness.best_seconds(f) * 1e6 for name, f in updates(size).items()}
        cells = [f"{times['sgd']:8.2f} us{'':7}"]
        for name in ("adam", "rmsprop"):
            cells.append(f"{times[name]:8.2f} us ({times[name] / times['sgd']:.1f}x)")
        print(f"{size:6d} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
