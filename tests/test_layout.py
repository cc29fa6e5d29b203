"""How inputs in the article's column form and in rows are read."""

import numpy as np
import pytest

from nnplug.modules.layout import Layout, as_rows, grad_as_rows


@pytest.mark.parametrize(
    ("shape", "features", "layout"),
    [
        ((4,), None, Layout.VECTOR),
        ((5, 3), 3, Layout.ROWS),
        ((3, 1), 3, Layout.COLUMN),
        ((3, 1), None, Layout.COLUMN),
        ((7, 1), 1, Layout.ROWS),
        ((1, 1), 1, Layout.ROWS),
        ((6, 3, 1), 3, Layout.STACK),
    ],
)
def test_layout_is_recognised(shape, features, layout):
    assert Layout.of(np.zeros(shape), features) is layout


@pytest.mark.parametrize("shape", [(4,), (4, 1), (2, 4), (3, 4, 1)])
def test_rows_round_trip(shape):
    array = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    rows, layout = as_rows(array, None, features=4)
    assert rows.ndim == 2 and rows.shape[1] == 4 and rows.flags.c_contiguous
    np.testing.assert_array_equal(layout.restore(rows), array)


def test_integer_inputs_become_float32():
    rows, _ = as_rows(np.array([[1, 2]], dtype=np.uint8), None, features=2)
    assert rows.dtype == np.float32


def test_wrong_feature_count_names_owner_and_shapes():
    with pytest.raises(ValueError, match=r"owner'?: expected inputs with 3 features.*\(2, 2\)"):
        as_rows(np.zeros((2, 2)), "owner", features=3)


def test_non_numeric_input_is_a_type_error():
    with pytest.raises(TypeError, match="numeric"):
        as_rows(np.array([["a", "b"]]), "owner")


def test_gradient_must_match_outputs():
    outputs = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"shape of the outputs, \(2, 3\); got shape \(3, 2\)"):
        grad_as_rows(np.zeros((3, 2)), outputs, Layout.ROWS, "owner")
