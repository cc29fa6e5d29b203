"""Softmax of rows holding infinities: a finite distribution, the same on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from nnplug_numpy.backend import NumpyBackend

import nnplug
from nnplug import modules

INF = np.inf
ROWS = [
    ([1, INF, 2, INF], [0, 0.5, 0, 0.5]),  # uniform over the +inf entries
    ([INF, 0, -INF, 5], [1, 0, 0, 0]),
    ([-INF, -INF, -INF, -INF], [0.25, 0.25, 0.25, 0.25]),  # all -inf: the equal-logits limit
    ([0, -INF, 0, -INF], [0.5, 0, 0.5, 0]),  # -inf entries give 0
    ([INF, INF, INF, INF], [0.25, 0.25, 0.25, 0.25]),
    ([1e30, -1e30, 0, INF], [0, 0, 0, 1]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("row", "expected"), ROWS)
def test_reference_is_finite_for_rows_with_infinities(row, expected, dtype):
    probabilities = NumpyBackend().softmax(np.array([row], dtype=dtype))
    np.testing.assert_array_equal(probabilities, np.array([expected], dtype=dtype))


@pytest.mark.parametrize("name", sorted(nnplug.registry.backends))
def test_every_backend_agrees_with_the_reference(name):
    x = np.array([row for row, _ in ROWS] + [[np.nan, 1, 2, 3], [1, INF, np.nan, 0]], np.float32)
    with nnplug.use_backend(name):
        got = modules.Softmax().forward(x)
    expected = NumpyBackend().softmax(x)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)
    assert np.isnan(got[-2:]).all(), "a NaN entry must keep its row NaN"
    assert np.isfinite(got[:-2]).all()
