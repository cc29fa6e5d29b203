"""Draw the tutorials' figures from real runs of their code (needs matplotlib).

    python docs/scripts/figures.py

runs the code of ``docs/tutorials/xor.md`` as the tests do and plots the error of each epoch
into ``docs/images/xor-loss.png``. The MNIST figure comes from the command line instead (see
``docs/tutorials/mnist.md`` for the command).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from codeblocks import python_blocks, run_blocks  # noqa: E402

DOCS = Path(__file__).resolve().parents[1]


def xor_loss_curve(output: Path) -> None:
    """Run the XOR tutorial and plot the ``errors`` its training returned."""
    page = DOCS / "tutorials" / "xor.md"
    namespace: dict[str, object] = {}
    run_blocks(page, python_blocks(page), namespace)
    errors = namespace["errors"]
    figure, axes = pyplot.subplots(figsize=(6, 3.5), layout="constrained")
    axes.plot(range(1, len(errors) + 1), errors)
    axes.set(title="XOR: training error", xlabel="epoch", ylabel="mean squared error")
    axes.set_yscale("log")
    figure.savefig(output, dpi=80)
    pyplot.close(figure)


if __name__ == "__main__":
    xor_loss_curve(DOCS / "images" / "xor-loss.png")
