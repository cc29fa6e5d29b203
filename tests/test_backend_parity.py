"""Every backend computes what the NumPy reference computes, for every kernel of the contract.

Shapes are drawn by hypothesis: batches of 0 and 1, odd sizes, sizes around and between
multiples of 16 (the widest vector), and the article's 784/100/50/10. Array contents come
from a seeded NumPy generator: what matters to the kernels is the shape, and this keeps
examples cheap. Tolerances are float32's: rtol 1e-5, and an atol that grows with the
length of the sum behind each result.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from nnplug_numpy.backend import NumpyBackend

import nnplug
from nnplug.backends import get_backend

BACKENDS = sorted(nnplug.registry.backends)
REFERENCE = NumpyBackend()
KINDS = ("tanh", "sigmoid", "relu")

SIZES = st.one_of(
    st.integers(1, 40),
    st.sampled_from([1, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 784]),
)
BATCHES = st.one_of(st.just(0), st.just(1), st.integers(0, 70), st.sampled_from([64, 256]))
SEEDS = st.integers(0, 2**32 - 1)
FEW = settings(max_examples=100, deadline=None)


def _matrix_cases() -> list[tuple[str, int]]:
    """(backend, ISA level) pairs: the C matrix kernels at every level this CPU runs."""
    cases = [(name, 0) for name in BACKENDS if name != "c"]
    if "c" in BACKENDS:
        from nnplug._c import matmul

        cases += [("c", level) for level in range(1, matmul.isa_level() + 1)]
    return cases


MATRIX_CASES = pytest.mark.parametrize(
    ("name", "level"), _matrix_cases(), ids=lambda value: str(value) if value else "-"
)


@contextmanager
def matrix_level(name: str, level: int) -> Iterator[None]:
    """Cap the C matrix kernels at ``level`` (0: leave them alone) for the ``with`` block."""
    if name != "c" or level == 0:
        yield
        return
    from nnplug._c import matmul

    matmul.set_max_isa_level(level)
    try:
        yield
    finally:
        matmul.set_max_isa_level(0)


def normal(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def close(actual: np.ndarray, expected: np.ndarray, terms: int = 1) -> None:
    """Equal shape and dtype; values within float32 tolerance for sums of ``terms`` terms."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.sqrt(max(terms, 1)))


# --- dense layers ----------------------------------------------------------------------------


@MATRIX_CASES
@FEW
@given(n=BATCHES, n_in=SIZES, n_out=SIZES, seed=SEEDS)
@example(n=0, n_in=784, n_out=100, seed=0)
@example(n=1, n_in=784, n_out=100, seed=0)
@example(n=64, n_in=100, n_out=50, seed=0)
# Long rows and a ragged last vector of outputs: whole vectors packed, the rest dot products.
@example(n=64, n_in=784, n_out=100, seed=0)
@example(n=256, n_in=784, n_out=52, seed=1)
@example(n=40, n_in=600, n_out=37, seed=2)
# Fewer outputs than a tile is wide: taller dot-product tiles, the leftover rows shifted back.
@example(n=37, n_in=784, n_out=2, seed=3)
@example(n=20, n_in=100, n_out=3, seed=4)
@example(n=17, n_in=33, n_out=1, seed=5)
# Fewer outputs than a vector on short rows: one packed panel, mostly padding.
@example(n=32, n_in=50, n_out=10, seed=6)
@example(n=45, n_in=64, n_out=5, seed=7)
def test_linear_forward(name, level, n, n_in, n_out, seed):
    x, w, b = normal(seed, n, n_in), normal(seed + 1, n_out, n_in), normal(seed + 2, n_out)
    with matrix_level(name, level):
        y = get_backend(name).linear_forward(x, w, b)
    close(y, REFERENCE.linear_forward(x, w, b), n_in)


@MATRIX_CASES
@FEW
@given(n=BATCHES, n_in=SIZES, n_out=SIZES, seed=SEEDS)
@example(n=0, n_in=784, n_out=100, seed=0)
@example(n=1, n_in=784, n_out=100, seed=0)
def test_linear_input_grad(name, level, n, n_in, n_out, seed):
    g, w = normal(seed, n, n_out), normal(seed + 1, n_out, n_in)
    with matrix_level(name, level):
        dx = get_backend(name).linear_input_grad(g, w)
    close(dx, REFERENCE.linear_input_grad(g, w), n_out)


@MATRIX_CASES
@FEW
@given(n=BATCHES, n_in=SIZES, n_out=SIZES, seed=SEEDS)
@example(n=0, n_in=784, n_out=100, seed=0)
@example(n=1, n_in=784, n_out=100, seed=0)
@example(n=300, n_in=50, n_out=10, seed=0)
def test_linear_param_grads_accumulate(name, level, n, n_in, n_out, seed):
    g, x = normal(seed, n, n_out), normal(seed + 1, n, n_in)
    start_w, start_b = normal(seed + 2, n_out, n_in), normal(seed + 3, n_out)
    dw, db = start_w.copy(), start_b.copy()
    ref_dw, ref_db = start_w.copy(), start_b.copy()
    with matrix_level(name, level):
        get_backend(name).linear_param_grads(g, x, dw, db)
    REFERENCE.linear_param_grads(g, x, ref_dw, ref_db)
    close(dw, ref_dw, n)
    close(db, ref_db, n)


@pytest.mark.parametrize("name", BACKENDS)
def test_linear_kernels_on_non_contiguous_float32(name):
    """Strided views are copied, not refused: layers may pass them."""
    backend = get_backend(name)
    x, w, b = normal(1, 6, 40)[:, ::2], normal(2, 20, 40)[:, ::2], normal(3, 40)[::2]
    close(backend.linear_forward(x, w, b), REFERENCE.linear_forward(x, w, b), 20)
    g = normal(4, 6, 40)[:, ::2]
    close(backend.linear_input_grad(g, w), REFERENCE.linear_input_grad(g, w), 20)
    dw, db = np.zeros((20, 20), np.float32), np.zeros(20, np.float32)
    ref_dw, ref_db = dw.copy(), db.copy()
    backend.linear_param_grads(g, x, dw, db)
    REFERENCE.linear_param_grads(g, x, ref_dw, ref_db)
    close(dw, ref_dw, 6)
    close(db, ref_db, 6)


# --- activations ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
@FEW
@given(n=BATCHES, m=SIZES, seed=SEEDS, scale=st.sampled_from([0.01, 1.0, 5.0, 100.0]))
def test_activation_forward_and_backward(name, kind, n, m, seed, scale):
    backend = get_backend(name)
    x = normal(seed, n, m, scale=scale)
    y = backend.activation_forward(kind, x)
    close(y, REFERENCE.activation_forward(kind, x))
    dy = normal(seed + 1, n, m)
    close(backend.activation_backward(kind, y, dy), REFERENCE.activation_backward(kind, y, dy))


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_activation_special_values(name, kind):
    """NaN propagates, infinities saturate and subnormals survive, as in the reference.

    Within one ulp: at 9.1 NumPy's tanh gives 1 - 2**-24 where the exact tanh rounds to 1.
    """
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 9.1, -30.0, 1e-40, 88.0], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(
            get_backend(name).activation_forward(kind, x),
            REFERENCE.activation_forward(kind, x),
            rtol=1.2e-7,
            atol=0,
        )


# --- softmax and cross-entropy -------------------------------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
@FEW
@given(n=BATCHES, m=SIZES, seed=SEEDS, scale=st.sampled_from([1.0, 30.0, 1e4]))
@example(n=64, m=10, seed=0, scale=1.0)
def test_softmax_and_backward(name, n, m, seed, scale):
    backend = get_backend(name)
    x = normal(seed, n, m, scale=scale)
    y = backend.softmax(x)
    assert np.isfinite(y).all()
    close(y, REFERENCE.softmax(x), m)
    dy = normal(seed + 1, n, m)
    close(backend.softmax_backward(y, dy), REFERENCE.softmax_backward(y, dy), m)


@pytest.mark.parametrize("name", BACKENDS)
def test_softmax_is_finite_for_logits_of_magnitude_1e4(name):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, 9999.0]], dtype=np.float32)
    y = get_backend(name).softmax(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    close(y, REFERENCE.softmax(x))


@pytest.mark.parametrize("name", BACKENDS)
@FEW
@given(n=BATCHES, m=SIZES, seed=SEEDS, one_hot=st.booleans())
def test_cross_entropy_and_fused_gradient(name, n, m, seed, one_hot):
    backend = get_backend(name)
    probs = REFERENCE.softmax(normal(seed, n, m, scale=3.0))
    rng = np.random.default_rng(seed + 1)
    if one_hot:
        targets = np.eye(m, dtype=np.float32)[rng.integers(0, m, n)]
    else:
        targets = REFERENCE.softmax(normal(seed + 2, n, m))
    loss = backend.cross_entropy(probs, targets)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, REFERENCE.cross_entropy(probs, targets), rtol=1e-5, atol=1e-5)
    scale = 1.0 / max(n, 1)
    close(
        backend.softmax_cross_entropy_grad(probs, targets, scale),
        REFERENCE.softmax_cross_entropy_grad(probs, targets, scale),
    )


@pytest.mark.parametrize("name", BACKENDS)
def test_cross_entropy_keeps_log_of_zero_finite(name):
    probs = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    targets = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    loss = get_backend(name).cross_entropy(probs, targets)
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, REFERENCE.cross_entropy(probs, targets), rtol=1e-6)


# --- optimizers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
@FEW
@given(shape=st.sampled_from([(0,), (1,), (10,), (17,), (50, 100), (100, 784)]), seed=SEEDS)
def test_sgd_step(name, shape, seed):
    param, grad, velocity = (normal(seed + i, *shape) for i in range(3))
    ref = [param.copy(), grad, velocity.copy()]
    for _ in range(3):
        get_backend(name).sgd_step(param, grad, velocity, 0.01, 0.9)
        REFERENCE.sgd_step(ref[0], ref[1], ref[2], 0.01, 0.9)
    close(param, ref[0])
    close(velocity, ref[2])


@pytest.mark.parametrize("name", BACKENDS)
@FEW
@given(shape=st.sampled_from([(0,), (1,), (10,), (17,), (50, 100)]), seed=SEEDS)
def test_adam_step(name, shape, seed):
    param, grad = normal(seed, *shape), normal(seed + 1, *shape)
    m, v = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    ref = [param.copy(), m.copy(), v.copy()]
    for step in range(1, 4):
        get_backend(name).adam_step(param, grad, m, v, 1e-3, 0.9, 0.999, 1e-8, step)
        REFERENCE.adam_step(ref[0], grad, ref[1], ref[2], 1e-3, 0.9, 0.999, 1e-8, step)
    close(param, ref[0])
    close(m, ref[1])
    close(v, ref[2])


@pytest.mark.parametrize("name", BACKENDS)
def test_in_place_updates_change_the_callers_arrays_even_off_the_fast_path(name):
    """A strided buffer can't be updated in C; the update still lands in the caller's array."""
    param = normal(1, 4, 6)[:, ::2]
    velocity = np.zeros((4, 3), np.float32)
    expected = param.copy()
    REFERENCE.sgd_step(
        expected, np.ones((4, 3), np.float32), np.zeros((4, 3), np.float32), 0.5, 0.0
    )
    get_backend(name).sgd_step(param, np.ones((4, 3), np.float32), velocity, 0.5, 0.0)
    close(param, expected)


# --- other dtypes -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
def test_float64_gives_the_reference_result(name):
    """Gradient checks run in float64; those go to the NumPy reference and stay float64."""
    backend = get_backend(name)
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    y = backend.linear_forward(x, w, b)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, REFERENCE.linear_forward(x, w, b))
    np.testing.assert_array_equal(backend.softmax(x), REFERENCE.softmax(x))
    np.testing.assert_array_equal(
        backend.activation_forward("tanh", x), REFERENCE.activation_forward("tanh", x)
    )
    dw, db = np.zeros_like(w), np.zeros_like(b)
    backend.linear_param_grads(y, x, dw, db)
    assert dw.dtype == np.float64 and np.abs(dw).sum() > 0
