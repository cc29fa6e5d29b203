"""Losses: the article's values, gradients against finite differences, numerical safety."""

import numpy as np
import pytest

from nnplug import losses, modules
from nnplug.gradcheck import check_loss


def probabilities(rng, shape):
    scores = rng.standard_normal(shape)
    exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def test_mse_is_the_mean_of_squares(backend):
    value = losses.MSE().loss(np.array([[1.0], [2.0]]), np.array([[0.0], [4.0]]))
    assert value == pytest.approx(2.5)


def test_cross_entropy_matches_the_article_example(backend):
    true = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32).reshape(10, 1)
    pred = np.array([0.7, 0, 0.2, 0.1, 0, 0, 0, 0, 0, 0], dtype=np.float32).reshape(10, 1)
    assert losses.CrossEntropy().loss(true, pred) == pytest.approx(-np.log(0.2), rel=1e-6)


def test_cross_entropy_of_a_batch_is_the_mean_per_sample(backend, rng):
    true = np.eye(4)[[0, 2, 3]]
    pred = probabilities(rng, (3, 4))
    per_sample = [
        losses.CrossEntropy().loss(t[:, None], p[:, None]) for t, p in zip(true, pred, strict=True)
    ]
    assert losses.CrossEntropy().loss(true, pred) == pytest.approx(np.mean(per_sample))


@pytest.mark.parametrize("loss", [losses.MSE(), losses.CrossEntropy()], ids=repr)
@pytest.mark.parametrize("shape", [(4, 3), (3, 1), (5,), (1, 6)])
def test_loss_prime_matches_finite_differences(backend, loss, shape, rng):
    pred = probabilities(rng, shape) if shape[-1] > 1 else rng.uniform(0.2, 0.8, shape)
    true = np.zeros(shape)
    true.reshape(-1, shape[-1])[:, 0] = 1
    assert check_loss(loss, true, pred) == []


def test_cross_entropy_is_finite_for_zero_probability(backend):
    true = np.array([[0.0, 1.0]], dtype=np.float32)
    pred = np.array([[1.0, 0.0]], dtype=np.float32)
    loss = losses.CrossEntropy()
    assert np.isfinite(loss.loss(true, pred))
    assert np.all(np.isfinite(loss.loss_prime(true, pred)))


def test_fused_gradient_equals_loss_prime_through_softmax(backend, rng):
    softmax = modules.Softmax()
    logits = rng.standard_normal((4, 5))
    pred = softmax.forward(logits)
    true = np.eye(5, dtype=np.float32)[[1, 0, 4, 2]]
    loss = losses.CrossEntropy()
    through_jacobian = softmax.backward(loss.loss_prime(true, pred))
    np.testing.assert_allclose(loss.softmax_input_grad(true, pred), through_jacobian, atol=1e-6)
    np.testing.assert_allclose(loss.softmax_input_grad(true, pred), (pred - true) / 4, atol=1e-7)


def test_mismatched_shapes_name_the_loss():
    with pytest.raises(ValueError, match=r"CrossEntropy\(\).*y_true \(2, 3\) and y_pred \(2, 4\)"):
        losses.CrossEntropy().loss(np.zeros((2, 3)), np.zeros((2, 4)))


def test_base_loss_says_what_is_missing():
    with pytest.raises(NotImplementedError, match="Loss does not implement loss"):
        losses.Loss().loss(np.zeros(1), np.zeros(1))
