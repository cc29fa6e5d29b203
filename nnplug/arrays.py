"""Array allocation with a fixed alignment.

The C kernels may split a dot product differently depending on where a weight row starts
in memory (to keep vector loads aligned), which changes float32 rounding in the last
bit. Parameters allocated on a 64-byte boundary make runs with the same seed give the
same numbers every time, whatever addresses the allocator hands out.
"""

from __future__ import annotations

import numpy as np

ALIGNMENT = 64


def aligned_zeros(shape: int | tuple[int, ...], dtype: np.dtype | str) -> np.ndarray:
    """Return a C-contiguous array of zeros whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    buffer = np.zeros(count * dtype.itemsize + ALIGNMENT, dtype=np.uint8)
    offset = -buffer.ctypes.data % ALIGNMENT
    return buffer[offset : offset + count * dtype.itemsize].view(dtype).reshape(shape)
