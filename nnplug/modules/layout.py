"""Reading inputs as a batch of rows, whatever form the caller used.

nnplug computes on ``(batch, features)`` rows. The article feeds single samples as column
vectors ``(features, 1)``, or plain vectors ``(features,)``, and stacks of columns
``(N, features, 1)``. A ``Layout`` remembers which form came in, so that outputs and
gradients go back out in the same form.
"""

from __future__ import annotations

import enum

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Layout(enum.Enum):
    """The form an array came in."""

    ROWS = "rows"
    COLUMN = "column"
    VECTOR = "vector"
    STACK = "stack"

    @classmethod
    def of(cls, array: np.ndarray, features: int | None = None) -> Layout:
        """Classify ``array``; ``features`` (when known) tells ``(f, 1)`` columns from batches.

        Without ``features``, an ``(n, 1)`` array with ``n > 1`` is taken as one column
        vector: a softmax or cross-entropy over a single class would be meaningless.
        """
        if array.ndim == 1:
            return cls.VECTOR
        if array.ndim == 3 and array.shape[2] == 1:
            return cls.STACK
        if array.ndim == 2 and array.shape[1] == 1 and array.shape[0] > 1:
            if features is None or features == array.shape[0]:
                return cls.COLUMN
        return cls.ROWS

    def to_rows(self, array: np.ndarray) -> np.ndarray:
        """Return ``array`` (in this layout) as ``(batch, features)`` rows."""
        if self is Layout.COLUMN:
            return array.T
        if self is Layout.VECTOR:
            return array.reshape(1, -1)
        if self is Layout.STACK:
            return array.reshape(array.shape[0], array.shape[1])
        return array

    def restore(self, rows: np.ndarray) -> np.ndarray:
        """Return ``(batch, features)`` rows in this layout."""
        if self is Layout.COLUMN:
            return rows.T
        if self is Layout.VECTOR:
            return rows.reshape(-1)
        if self is Layout.STACK:
            return rows.reshape(rows.shape[0], rows.shape[1], 1)
        return rows


def describe(owner: object) -> str:
    """Name an owner (layer, loss) in error messages, e.g. ``Linear(784 -> 100)``."""
    return repr(owner) if owner is not None else "input"


def as_float_array(value: object, dtype: np.dtype | None, owner: object, what: str) -> np.ndarray:
    """Return ``value`` as a C-contiguous float array; ``dtype`` None keeps float32/float64 as is.

    Integers, booleans and unsigned bytes are converted; anything non-numeric is a TypeError.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{describe(owner)}: {what} must be a numeric array, got dtype {array.dtype}"
        )
    if dtype is None:
        dtype = array.dtype if array.dtype in FLOAT_DTYPES else np.dtype(np.float32)
    return np.ascontiguousarray(array, dtype=dtype)


def as_rows(
    value: object,
    owner: object,
    *,
    features: int | None = None,
    dtype: np.dtype | None = None,
    what: str = "inputs",
) -> tuple[np.ndarray, Layout]:
    """Return ``value`` as contiguous float rows and the layout it came in.

    Raises ValueError, naming ``owner``, when the shape has the wrong number of features.
    """
    array = as_float_array(value, dtype, owner, what)
    if array.ndim not in (1, 2) and not (array.ndim == 3 and array.shape[2] == 1):
        expected = f"(batch, {features})" if features else "(batch, features)"
        raise ValueError(
            f"{describe(owner)}: expected {what} shaped {expected}, a column vector or a "
            f"stack of column vectors (N, features, 1); got shape {array.shape}"
        )
    layout = Layout.of(array, features)
    rows = np.ascontiguousarray(layout.to_rows(array))
    if features is not None and rows.shape[1] != features:
        raise ValueError(
            f"{describe(owner)}: expected {what} with {features} features, shaped "
            f"(batch, {features}) or ({features}, 1); got shape {array.shape}"
        )
    return rows, layout


def grad_as_rows(value: object, outputs: np.ndarray, layout: Layout, owner: object) -> np.ndarray:
    """Return an output gradient as rows, checking it has the shape of the ``outputs`` it is for."""
    array = as_float_array(value, outputs.dtype, owner, "output_grad")
    expected = layout.restore(outputs).shape
    if array.shape != expected:
        raise ValueError(
            f"{describe(owner)}: output_grad must have the shape of the outputs, {expected}; "
            f"got shape {array.shape}"
        )
    return np.ascontiguousarray(layout.to_rows(array))
