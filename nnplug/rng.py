"""nnplug's own random generator: one call to ``seed`` makes runs reproducible.

NumPy's global random state is never touched.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def seed(value: int | None) -> None:
    """Reseed the generator used for weight initialisation and shuffling (None: fresh entropy)."""
    global _generator
    _generator = np.random.default_rng(value)


def generator() -> np.random.Generator:
    """Return the generator that layers and the trainer draw from when given none."""
    return _generator
