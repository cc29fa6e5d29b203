"""nnplug's own random generator: one call to ``seed`` makes runs reproducible.

NumPy's global random state is never touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

_generator = np.random.default_rng()
# A generator that stands in for nnplug's in one thread or task (model loading's zeros).
_stand_in: ContextVar[np.random.Generator | None] = ContextVar("nnplug_generator", default=None)


def seed(value: int | None) -> None:
    """Reseed the generator used for weight initialisation and shuffling (None: fresh entropy)."""
    global _generator
    _generator = np.random.default_rng(value)


def generator() -> np.random.Generator:
    """Return the generator that layers and the trainer draw from when given none."""
    stand_in = _stand_in.get()
    return _generator if stand_in is None else stand_in


@contextmanager
def drawing_from(source: np.random.Generator) -> Iterator[None]:
    """Make ``generator()`` return ``source`` until the block ends, in the calling thread or
    task only: the others, and nnplug's own stream, are not touched."""
    token = _stand_in.set(source)
    try:
        yield
    finally:
        _stand_in.reset(token)
