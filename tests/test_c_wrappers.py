"""The raw wrappers of the C kernels refuse everything C could misread, with clear messages."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nnplug._native", reason="the C extension is not built")

from nnplug._native import lib  # noqa: E402

from nnplug._c import activations, matmul, optim, softmax  # noqa: E402
from nnplug._c._checks import NativeKernelError, OverlapError, ensure  # noqa: E402


def f32(*shape: int) -> np.ndarray:
    return np.arange(np.prod(shape, dtype=int), dtype=np.float32).reshape(shape) / 7


def read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


# --- one table of calls that must be refused: (call, exception, words in the message) ---------

REFUSED = {
    # dense layers
    "forward x 1-D": (
        lambda: matmul.linear_forward(f32(4), f32(3, 4), f32(3)),
        ValueError,
        "x must be 2-D",
    ),
    "forward x float64": (
        lambda: matmul.linear_forward(f32(2, 4).astype(np.float64), f32(3, 4), f32(3)),
        TypeError,
        "float32, not float64",
    ),
    "forward x list": (
        lambda: matmul.linear_forward([[1.0]], f32(1, 1), f32(1)),
        TypeError,
        "numpy.ndarray",
    ),
    "forward in mismatch": (
        lambda: matmul.linear_forward(f32(2, 4), f32(3, 5), f32(3)),
        ValueError,
        "x has shape (2, 4) but weights has shape (3, 5)",
    ),
    "forward bias shape": (
        lambda: matmul.linear_forward(f32(2, 4), f32(3, 4), f32(4)),
        ValueError,
        "bias must have shape (3,), not (4,)",
    ),
    "forward x strided": (
        lambda: matmul.linear_forward(f32(2, 8)[:, ::2], f32(3, 4), f32(3)),
        ValueError,
        "C-contiguous",
    ),
    "forward weights transposed": (
        lambda: matmul.linear_forward(f32(2, 4), f32(4, 3).T, f32(3)),
        ValueError,
        "weights (shape (3, 4)) must be C-contiguous",
    ),
    "input grad out mismatch": (
        lambda: matmul.linear_input_grad(f32(2, 3), f32(4, 5)),
        ValueError,
        "grad has shape (2, 3) but weights has shape (4, 5)",
    ),
    "input grad float64 weights": (
        lambda: matmul.linear_input_grad(f32(2, 3), f32(3, 5).astype(np.float64)),
        TypeError,
        "weights must have dtype float32",
    ),
    "param grads rows": (
        lambda: matmul.linear_param_grads(f32(2, 3), f32(4, 5), f32(3, 5), f32(3)),
        ValueError,
        "grad has shape (2, 3) but x has shape (4, 5)",
    ),
    "param grads weights_grad shape": (
        lambda: matmul.linear_param_grads(f32(2, 3), f32(2, 5), f32(5, 3), f32(3)),
        ValueError,
        "weights_grad must have shape (3, 5), not (5, 3)",
    ),
    "param grads read-only": (
        lambda: matmul.linear_param_grads(f32(2, 3), f32(2, 5), read_only(f32(3, 5)), f32(3)),
        ValueError,
        "weights_grad is read-only",
    ),
    "param grads bias_grad 2-D": (
        lambda: matmul.linear_param_grads(f32(2, 3), f32(2, 5), f32(3, 5), f32(1, 3)),
        ValueError,
        "bias_grad must have shape (3,), not (1, 3)",
    ),
    # activations
    "activation kind": (
        lambda: activations.activation_forward("swish", f32(3)),
        ValueError,
        "'swish'",
    ),
    "activation float64": (
        lambda: activations.activation_forward("tanh", np.zeros(3)),
        TypeError,
        "float32, not float64",
    ),
    "activation strided": (
        lambda: activations.activation_forward("relu", f32(6)[::2]),
        ValueError,
        "C-contiguous",
    ),
    "activation backward shapes": (
        lambda: activations.activation_backward("sigmoid", f32(2, 3), f32(3, 2)),
        ValueError,
        "got (2, 3) and (3, 2)",
    ),
    # softmax and cross-entropy
    "softmax 1-D": (lambda: softmax.softmax(f32(3)), ValueError, "x must be 2-D"),
    "softmax empty rows": (lambda: softmax.softmax(f32(2, 0)), ValueError, "no entries"),
    "softmax backward shapes": (
        lambda: softmax.softmax_backward(f32(2, 3), f32(2, 4)),
        ValueError,
        "outputs and output_grad must have the same shape",
    ),
    "cross-entropy float64 targets": (
        lambda: softmax.cross_entropy(f32(2, 3), np.zeros((2, 3))),
        TypeError,
        "targets must have dtype float32",
    ),
    "cross-entropy shapes": (
        lambda: softmax.cross_entropy(f32(2, 3), f32(3, 2)),
        ValueError,
        "probs and targets must have the same shape",
    ),
    "fused grad shapes": (
        lambda: softmax.softmax_cross_entropy_grad(f32(2, 3), f32(2, 2), 0.5),
        ValueError,
        "got (2, 3) and (2, 2)",
    ),
    # optimizers
    "sgd shapes": (
        lambda: optim.sgd_step(f32(3, 4), f32(4, 3), f32(3, 4), 0.1, 0.9),
        ValueError,
        "grad must have shape (3, 4), not (4, 3)",
    ),
    "sgd read-only param": (
        lambda: optim.sgd_step(read_only(f32(3)), f32(3), f32(3), 0.1, 0.9),
        ValueError,
        "param is read-only",
    ),
    "sgd strided velocity": (
        lambda: optim.sgd_step(f32(3), f32(3), f32(6)[::2], 0.1, 0.9),
        ValueError,
        "velocity (shape (3,)) must be C-contiguous",
    ),
    "sgd float64 grad": (
        lambda: optim.sgd_step(f32(3), np.zeros(3), f32(3), 0.1, 0.9),
        TypeError,
        "grad must have dtype float32",
    ),
    "adam step 0": (
        lambda: optim.adam_step(f32(3), f32(3), f32(3), f32(3), 1e-3, 0.9, 0.999, 1e-8, 0),
        ValueError,
        "step must be >= 1",
    ),
    "adam beta 1": (
        lambda: optim.adam_step(f32(3), f32(3), f32(3), f32(3), 1e-3, 1.0, 0.999, 1e-8, 1),
        ValueError,
        "must not be 1",
    ),
    "adam read-only m": (
        lambda: optim.adam_step(
            f32(3), f32(3), read_only(f32(3)), f32(3), 1e-3, 0.9, 0.999, 1e-8, 1
        ),
        ValueError,
        "m is read-only",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_before_reaching_c(case):
    call, exception, words = REFUSED[case]
    with pytest.raises(exception) as info:
        call()
    assert words in str(info.value)


# --- buffers that share memory -------------------------------------------------------------


def test_param_grads_refuse_gradients_overlapping_inputs():
    grad = f32(2, 3)
    with pytest.raises(OverlapError, match="bias_grad .* overlaps grad"):
        matmul.linear_param_grads(grad, f32(2, 5), f32(3, 5), grad[0])


def test_sgd_refuses_velocity_aliasing_param():
    param = f32(4)
    with pytest.raises(OverlapError, match="param .* overlaps velocity"):
        optim.sgd_step(param, f32(4), param, 0.1, 0.9)


def test_adam_refuses_shared_moments():
    moments = f32(2, 3)
    with pytest.raises(OverlapError, match="m .* overlaps v"):
        optim.adam_step(f32(3), f32(3), moments[0], moments[0], 1e-3, 0.9, 0.999, 1e-8, 1)


def test_overlap_is_a_value_error():
    """Callers that do not know OverlapError still see the ValueError they expect."""
    assert issubclass(OverlapError, ValueError)


# --- the status check -------------------------------------------------------------------------


def test_ensure_passes_ok_and_names_the_kernel_otherwise():
    ensure(lib.NNP_OK, "nnp_anything")
    with pytest.raises(NativeKernelError, match=r"nnp_thing returned 4 \(an output overlaps"):
        ensure(lib.NNP_ERR_ALIAS, "nnp_thing")
    with pytest.raises(NativeKernelError, match="a kernel's own meaning"):
        ensure(99, "nnp_thing", {99: "a kernel's own meaning"})


# --- empty batches ------------------------------------------------------------------------------


def test_empty_batches_give_empty_results():
    """n = 0 is a valid batch: outputs are empty, accumulators untouched, the loss is 0."""
    weights, bias = f32(3, 4), f32(3)
    assert matmul.linear_forward(f32(0, 4), weights, bias).shape == (0, 3)
    assert matmul.linear_input_grad(f32(0, 3), weights).shape == (0, 4)
    weights_grad, bias_grad = f32(3, 4), f32(3)
    matmul.linear_param_grads(f32(0, 3), f32(0, 4), weights_grad, bias_grad)
    np.testing.assert_array_equal(weights_grad, f32(3, 4))
    np.testing.assert_array_equal(bias_grad, f32(3))
    for kind in ("tanh", "sigmoid", "relu"):
        assert activations.activation_forward(kind, f32(0, 5)).shape == (0, 5)
        assert activations.activation_backward(kind, f32(0, 5), f32(0, 5)).shape == (0, 5)
    assert softmax.softmax(f32(0, 5)).shape == (0, 5)
    assert softmax.softmax_backward(f32(0, 5), f32(0, 5)).shape == (0, 5)
    assert softmax.cross_entropy(f32(0, 5), f32(0, 5)) == 0.0
    assert softmax.softmax_cross_entropy_grad(f32(0, 5), f32(0, 5), 2.0).shape == (0, 5)
    optim.sgd_step(f32(0), f32(0), f32(0), 0.1, 0.9)
    optim.adam_step(f32(0), f32(0), f32(0), f32(0), 1e-3, 0.9, 0.999, 1e-8, 1)


def test_zero_sized_layers():
    """No inputs: y is the bias; no outputs: dx is zero and nothing accumulates."""
    np.testing.assert_array_equal(matmul.linear_forward(f32(2, 0), f32(3, 0), f32(3)), [f32(3)] * 2)
    np.testing.assert_array_equal(matmul.linear_input_grad(f32(2, 0), f32(0, 4)), np.zeros((2, 4)))
    assert matmul.linear_forward(f32(2, 4), f32(0, 4), f32(0)).shape == (2, 0)


def test_outputs_are_new_float32_arrays():
    x = f32(2, 3)
    y = activations.activation_forward("tanh", x)
    assert y.dtype == np.float32 and y.shape == x.shape and not np.shares_memory(x, y)


# --- subnormal optimizer state ----------------------------------------------------------------


def test_optimizer_state_below_flt_min_is_stored_as_zero():
    """Decaying momentum is flushed instead of crawling through the slow subnormal range."""
    tiny = np.finfo(np.float32).tiny
    param, velocity = np.ones(4, np.float32), np.full(4, tiny, np.float32)
    optim.sgd_step(param, np.zeros(4, np.float32), velocity, 0.01, 0.9)
    np.testing.assert_array_equal(velocity, 0.0)
    np.testing.assert_array_equal(param, 1.0)
    m, v = np.full(4, tiny, np.float32), np.full(4, tiny, np.float32)
    optim.adam_step(param, np.zeros(4, np.float32), m, v, 1e-3, 0.9, 0.999, 1e-8, 1)
    np.testing.assert_array_equal(m, 0.0)
    np.testing.assert_array_equal(v, 0.0)
    normal = np.full(4, 1e-3, np.float32)
    optim.sgd_step(param, np.zeros(4, np.float32), normal, 0.01, 0.9)
    np.testing.assert_allclose(normal, 0.9e-3, rtol=1e-6)


@pytest.mark.parametrize("learning_rate", [1e-3, 0.5])
def test_adam_stores_a_first_moment_too_small_to_step_a_parameter_as_zero(learning_rate):
    """An m below FLT_MIN / learning_rate, whose step would be subnormal, is stored as zero;
    one above it is kept. With a rate of 1 or more the bound is FLT_MIN itself."""
    tiny = np.finfo(np.float32).tiny
    floor = tiny / learning_rate
    decayed = np.array([floor / 2, -floor / 2, floor * 4, -floor * 4], np.float32)
    m = decayed / np.float32(0.9)  # beta1 * m, with a zero gradient, is `decayed` again
    v = np.full(4, 1e-6, np.float32)
    param = np.ones(4, np.float32)
    optim.adam_step(param, np.zeros(4, np.float32), m, v, learning_rate, 0.9, 0.999, 1e-8, 1)
    np.testing.assert_array_equal(m[:2], 0.0)
    np.testing.assert_allclose(m[2:], decayed[2:], rtol=1e-6)
    np.testing.assert_array_equal(param, 1.0)
