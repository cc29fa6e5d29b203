"""Aligned allocation of parameters."""

import numpy as np
import pytest

from nnplug import modules, optimizers
from nnplug.arrays import ALIGNMENT, aligned_zeros


@pytest.mark.parametrize("shape", [0, 1, 7, (3, 5), (100, 784)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_aligned_zeros(shape, dtype):
    array = aligned_zeros(shape, dtype)
    assert array.ctypes.data % ALIGNMENT == 0 or array.size == 0
    assert array.shape == np.empty(shape).shape and array.dtype == dtype
    assert array.flags.c_contiguous and array.flags.writeable and not array.any()


def test_parameters_and_optimizer_state_are_aligned():
    layer = modules.Linear(13, 7)
    state = optimizers.SGD(layer).velocities
    for array in [*layer.parameters(), *layer.gradients(), *state]:
        assert array.ctypes.data % ALIGNMENT == 0
