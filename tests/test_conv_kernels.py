"""The C convolution and pooling kernels compute what the NumPy reference computes, and their
wrappers refuse everything C could misread before it gets there.

Shapes are drawn by hypothesis: batches of 0 and 1, one channel, one-pixel images, strides,
padding larger than the kernel, non-square kernels, and the CNN recipe's two layers. The
matrix products run at every instruction-set level this CPU has.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

pytest.importorskip("nnplug._native", reason="the C extension is not built")

from nnplug._native import ffi, lib  # noqa: E402
from nnplug_numpy.backend import NumpyBackend  # noqa: E402

import nnplug.threads  # noqa: E402
from nnplug._c import conv, matmul  # noqa: E402
from nnplug._c._checks import OverlapError  # noqa: E402
from nnplug.backends import get_backend  # noqa: E402

REFERENCE = NumpyBackend()
C = get_backend("c")
LEVELS = pytest.mark.parametrize("level", range(1, matmul.isa_level() + 1))
FEW = settings(max_examples=60, deadline=None)


def normal(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def close(actual: np.ndarray, expected: np.ndarray, terms: int) -> None:
    assert actual.shape == expected.shape and actual.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.sqrt(max(terms, 1)))


@st.composite
def convolutions(draw):
    """(n, c, h, w, oc, kernel, stride, padding) with a padded image at least the kernel."""
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    padding = (draw(st.integers(0, 6)), draw(st.integers(0, 3)))
    h = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 12))
    w = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 12))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    n = draw(st.sampled_from([0, 1, 2, 3, 5]))
    c = draw(st.sampled_from([1, 2, 3, 17]))
    oc = draw(st.sampled_from([1, 2, 5, 16, 33]))
    return n, c, h, w, oc, kernel, stride, padding


RECIPE_LAYERS = [
    (3, 1, 28, 28, 32, (5, 5), (1, 1), (0, 0)),
    (3, 32, 12, 12, 64, (5, 5), (1, 1), (0, 0)),
]


def conv_arrays(case, seed):
    n, c, h, w, oc, kernel, stride, padding = case
    x, weights, bias = (
        normal(seed, n, c, h, w),
        normal(seed + 1, oc, c, *kernel),
        normal(seed + 2, oc),
    )
    out = REFERENCE.conv2d_forward(x, weights, bias, stride, padding).shape
    return x, weights, bias, normal(seed + 3, *out)


@LEVELS
@FEW
@given(case=convolutions(), seed=st.integers(0, 2**31))
@example(case=RECIPE_LAYERS[0], seed=0)
@example(case=RECIPE_LAYERS[1], seed=0)
def test_conv2d_kernels_match_the_reference(level, case, seed):
    x, weights, bias, grad = conv_arrays(case, seed)
    n, c, h, w, oc, kernel, stride, padding = case
    patch = c * kernel[0] * kernel[1]
    start_w, start_b = normal(seed + 4, *weights.shape), normal(seed + 5, oc)
    dw, db, ref_dw, ref_db = start_w.copy(), start_b.copy(), start_w.copy(), start_b.copy()
    matmul.set_max_isa_level(level)
    try:
        y = C.conv2d_forward(x, weights, bias, stride, padding)
        dx = C.conv2d_input_grad(grad, weights, (h, w), stride, padding)
        C.conv2d_param_grads(grad, x, dw, db, stride, padding)
    finally:
        matmul.set_max_isa_level(0)
    close(y, REFERENCE.conv2d_forward(x, weights, bias, stride, padding), patch)
    close(dx, REFERENCE.conv2d_input_grad(grad, weights, (h, w), stride, padding), oc * patch)
    REFERENCE.conv2d_param_grads(grad, x, ref_dw, ref_db, stride, padding)
    pixels = n * grad.shape[2] * grad.shape[3]
    close(dw, ref_dw, pixels)
    close(db, ref_db, pixels)


@st.composite
def pools(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    h, w = draw(st.integers(kernel[0], 11)), draw(st.integers(kernel[1], 11))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return (
        draw(st.sampled_from([0, 1, 2, 3])),
        draw(st.sampled_from([1, 2, 5])),
        h,
        w,
        kernel,
        stride,
    )


@FEW
@given(case=pools(), seed=st.integers(0, 2**31), ties=st.booleans())
@example(case=(3, 32, 24, 24, (2, 2), (2, 2)), seed=0, ties=False)
@example(case=(2, 5, 8, 8, (2, 2), (2, 2)), seed=1, ties=True)
@example(case=(2, 3, 7, 9, (2, 2), (2, 2)), seed=2, ties=False)
def test_maxpool2d_kernels_match_the_reference(case, seed, ties):
    n, c, h, w, kernel, stride = case
    x = normal(seed, n, c, h, w)
    if ties:
        # ReLU outputs: many windows full of equal zeros, where the first one must win.
        x = np.maximum(np.round(x), 0)
    y = C.maxpool2d_forward(x, kernel, stride)
    np.testing.assert_array_equal(y, REFERENCE.maxpool2d_forward(x, kernel, stride))
    grad = normal(seed + 1, *y.shape)
    close(
        C.maxpool2d_backward(x, grad, kernel, stride),
        REFERENCE.maxpool2d_backward(x, grad, kernel, stride),
        kernel[0] * kernel[1],
    )


def test_maxpool_nan_wins_as_in_numpy():
    x = np.array([[[[1.0, np.nan], [3.0, 2.0]]]], dtype=np.float32)
    assert np.isnan(C.maxpool2d_forward(x, (2, 2), (2, 2))).all()
    grad = np.ones((1, 1, 1, 1), np.float32)
    np.testing.assert_array_equal(
        C.maxpool2d_backward(x, grad, (2, 2), (2, 2)),
        REFERENCE.maxpool2d_backward(x, grad, (2, 2), (2, 2)),
    )


def test_maxpool_nan_and_ties_in_whole_vectors_of_windows():
    """2x2 windows at stride 2 run four at a time: NaN anywhere in a window wins, and the first
    of equal maxima takes the gradient, in every lane."""
    x = np.zeros((1, 2, 4, 10), np.float32)
    x[0, 0, 0, 1] = x[0, 0, 1, 2] = x[0, 0, 3, 7] = np.nan
    x[0, 1, 1, :] = 1.0
    x[0, 1, 0, 4:6] = 1.0
    y = C.maxpool2d_forward(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(y, REFERENCE.maxpool2d_forward(x, (2, 2), (2, 2)))
    grad = normal(3, *y.shape)
    np.testing.assert_array_equal(
        C.maxpool2d_backward(x, grad, (2, 2), (2, 2)),
        REFERENCE.maxpool2d_backward(x, grad, (2, 2), (2, 2)),
    )


def test_cbackend_falls_back_for_float64_strided_and_overlapping():
    x, weights, bias, grad = conv_arrays((2, 2, 5, 5, 3, (3, 3), (1, 1), (1, 1)), 0)
    wide = np.zeros((2, 2, 5, 10), np.float32)
    wide[..., ::2] = x
    close(
        C.conv2d_forward(wide[..., ::2], weights, bias, (1, 1), (1, 1)),
        REFERENCE.conv2d_forward(x, weights, bias, (1, 1), (1, 1)),
        18,
    )
    as64 = [a.astype(np.float64) for a in (x, weights, bias)]
    assert C.conv2d_forward(*as64, (1, 1), (1, 1)).dtype == np.float64
    # Gradients in one buffer with the weights' gradient: NumPy updates it instead.
    block = np.zeros(weights.size + 3, np.float32)
    dw, db = block[:-3].reshape(weights.shape), block[-3:]
    C.conv2d_param_grads(grad, x, dw, db, (1, 1), (1, 1))
    ref_dw, ref_db = np.zeros_like(weights), np.zeros(3, np.float32)
    REFERENCE.conv2d_param_grads(grad, x, ref_dw, ref_db, (1, 1), (1, 1))
    close(dw, ref_dw, 50)
    close(db, ref_db, 50)


# --- the wrappers refuse what C could misread --------------------------------------------------


def read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


X, W, B = normal(0, 2, 3, 6, 6), normal(1, 4, 3, 3, 3), normal(2, 4)
G = normal(3, 2, 4, 4, 4)

REFUSED = {
    "x 3-D": (lambda: conv.conv2d_forward(X[0], W, B, (1, 1), (0, 0)), ValueError, "x must be 4-D"),
    "x float64": (
        lambda: conv.conv2d_forward(X.astype(np.float64), W, B, (1, 1), (0, 0)),
        TypeError,
        "float32, not float64",
    ),
    "x strided": (
        lambda: conv.conv2d_forward(X[..., ::2], W, B, (1, 1), (0, 0)),
        ValueError,
        "C-contiguous",
    ),
    "channels": (
        lambda: conv.conv2d_forward(X, W[:, :2].copy(), B, (1, 1), (0, 0)),
        ValueError,
        "but the images have 3 channels",
    ),
    "bias": (
        lambda: conv.conv2d_forward(X, W, B[:3].copy(), (1, 1), (0, 0)),
        ValueError,
        "bias must have shape (4,), not (3,)",
    ),
    "stride 0": (
        lambda: conv.conv2d_forward(X, W, B, (0, 1), (0, 0)),
        ValueError,
        "stride must be a pair of integers >= 1",
    ),
    "stride int": (
        lambda: conv.conv2d_forward(X, W, B, 1, (0, 0)),
        ValueError,
        "stride must be a pair",
    ),
    "negative padding": (
        lambda: conv.conv2d_forward(X, W, B, (1, 1), (0, -1)),
        ValueError,
        "padding must be a pair of integers >= 0",
    ),
    "image too small": (
        lambda: conv.conv2d_forward(X[:, :, :2, :2].copy(), W, B, (1, 1), (0, 0)),
        ValueError,
        "smaller than the 3x3 window",
    ),
    "grad shape": (
        lambda: conv.conv2d_input_grad(G[:, :, :3].copy(), W, (6, 6), (1, 1), (0, 0)),
        ValueError,
        "grad must have shape (batch, 4, 4, 4)",
    ),
    "image size": (
        lambda: conv.conv2d_input_grad(G, W, (0, 6), (1, 1), (0, 0)),
        ValueError,
        "image_size must be a pair of integers >= 1",
    ),
    "param grad shape": (
        lambda: conv.conv2d_param_grads(
            G[:1].copy(), X, np.zeros_like(W), np.zeros_like(B), (1, 1), (0, 0)
        ),
        ValueError,
        "grad must have shape (2, 4, 4, 4)",
    ),
    "weights_grad read-only": (
        lambda: conv.conv2d_param_grads(
            G, X, read_only(np.zeros_like(W)), np.zeros_like(B), (1, 1), (0, 0)
        ),
        ValueError,
        "read-only",
    ),
    "pool kernel": (
        lambda: conv.maxpool2d_forward(X, (7, 1), (1, 1)),
        ValueError,
        "smaller than the 7x1 window",
    ),
    "pool grad": (
        lambda: conv.maxpool2d_backward(X, G, (2, 2), (2, 2)),
        ValueError,
        "grad must have shape (2, 3, 3, 3)",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_before_reaching_c(case):
    call, error, words = REFUSED[case]
    with pytest.raises(error) as caught:
        call()
    assert words in str(caught.value)


def test_param_grads_refuse_gradients_overlapping_inputs():
    inputs = X.copy()
    weights_grad = inputs.reshape(-1)[:27].reshape(1, 3, 3, 3)  # a view into the inputs
    bias_grad = np.zeros(1, np.float32)
    with pytest.raises(OverlapError, match="weights_grad"):
        conv.conv2d_param_grads(G[:, :1].copy(), inputs, weights_grad, bias_grad, (1, 1), (0, 0))


def test_c_entry_points_check_sizes_themselves():
    """The last line of defence: bad sizes return a status and write nothing."""
    y = np.full(8, 7.0, np.float32)
    x = np.zeros(8, np.float32)
    p = lambda a: ffi.from_buffer("float[]", a)  # noqa: E731

    def forward(*sizes, x_pointer=None):
        source = p(x) if x_pointer is None else x_pointer
        return lib.nnp_conv2d_forward(*sizes, source, p(x), p(x), p(y), 2)

    assert forward(1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0) == lib.NNP_ERR_SIZE  # kernel > image
    assert forward(1, 1, 2, 2, 1, 1, 1, 0, 1, 0, 0) == lib.NNP_ERR_SIZE  # stride 0
    assert forward(-1, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0) == lib.NNP_ERR_SIZE
    assert forward(1, 1, 2, 2, 1, 1, 1, 1, 1, 0, -1) == lib.NNP_ERR_SIZE
    assert forward(1, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0, x_pointer=ffi.NULL) == lib.NNP_ERR_NULL
    assert lib.nnp_maxpool2d_forward(1, 1, 2, 2, 3, 1, 1, 1, p(x), p(y)) == lib.NNP_ERR_SIZE
    assert lib.nnp_maxpool2d_backward(1, 1, 2, 2, 1, 1, 1, 1, p(x), p(x), p(x)) == lib.NNP_ERR_ALIAS
    assert (y == 7).all()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_counts_agree(threads):
    """Large batches are split over threads; results agree to float32 rounding."""
    x, weights, bias, grad = conv_arrays((9, 8, 12, 12, 16, (5, 5), (1, 1), (2, 2)), 7)
    previous = nnplug.threads.get_num_threads()
    nnplug.threads.set_num_threads(threads)
    try:
        y = C.conv2d_forward(x, weights, bias, (1, 1), (2, 2))
        dx = C.conv2d_input_grad(grad, weights, (12, 12), (1, 1), (2, 2))
        dw, db = np.zeros_like(weights), np.zeros_like(bias)
        C.conv2d_param_grads(grad, x, dw, db, (1, 1), (2, 2))
    finally:
        nnplug.threads.set_num_threads(previous)
    close(y, REFERENCE.conv2d_forward(x, weights, bias, (1, 1), (2, 2)), 200)
    close(dx, REFERENCE.conv2d_input_grad(grad, weights, (12, 12), (1, 1), (2, 2)), 3200)
    ref_dw, ref_db = np.zeros_like(weights), np.zeros_like(bias)
    REFERENCE.conv2d_param_grads(grad, x, ref_dw, ref_db, (1, 1), (2, 2))
    close(dw, ref_dw, 9 * 144)
    close(db, ref_db, 9 * 144)
