"""Optimizers: the article's SGD update, Adam, and argument checks."""

import numpy as np
import pytest

from nnplug import modules, optimizers


def model_with_gradients(rng):
    model = modules.Sequential([modules.Linear(3, 2)])
    for grad in model.gradients():
        grad[...] = rng.standard_normal(grad.shape)
    return model


def test_sgd_follows_the_article_update(backend, rng):
    model = model_with_gradients(rng)
    params = [p.copy() for p in model.parameters()]
    grads = [g.copy() for g in model.gradients()]
    sgd = optimizers.SGD(model, learning_rate=0.1, momentum=0.9)
    velocity = [np.zeros_like(p) for p in params]
    for _ in range(3):
        sgd.step()
        for i, grad in enumerate(grads):
            velocity[i] = 0.9 * velocity[i] + 0.1 * grad
            params[i] -= velocity[i]
    for actual, expected in zip(model.parameters(), params, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_sgd_defaults_are_the_articles():
    sgd = optimizers.SGD(modules.Linear(1, 1))
    assert (sgd.learning_rate, sgd.momentum) == (0.01, 0.9)


def test_adam_matches_its_formula(backend, rng):
    model = model_with_gradients(rng)
    param = model.parameters()[0].astype(np.float64)
    grad = model.gradients()[0].astype(np.float64)
    adam = optimizers.Adam(model, learning_rate=0.01)
    m = np.zeros_like(param)
    v = np.zeros_like(param)
    for t in range(1, 4):
        adam.step()
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        param -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(model.parameters()[0], param, rtol=1e-4, atol=1e-6)


def test_zero_gradients_clears_the_module(rng):
    model = model_with_gradients(rng)
    optimizers.SGD(model).zero_gradients()
    assert all(not grad.any() for grad in model.gradients())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda m: optimizers.SGD(m, learning_rate=0), "learning_rate must be a finite number > 0"),
        (lambda m: optimizers.SGD(m, learning_rate=float("nan")), "learning_rate"),
        (lambda m: optimizers.SGD(m, momentum=1.0), r"momentum must be in \[0, 1\)"),
        (lambda m: optimizers.Adam(m, beta2=-0.1), "beta2"),
        (lambda m: optimizers.Adam(m, epsilon=0), "epsilon"),
    ],
)
def test_bad_hyperparameters_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make(modules.Linear(1, 1))


def test_optimizer_needs_a_module():
    with pytest.raises(TypeError, match="expected the Module to optimize"):
        optimizers.SGD([np.zeros(3)])


def test_base_optimizer_says_what_is_missing():
    with pytest.raises(NotImplementedError, match="Optimizer does not implement step"):
        optimizers.Optimizer(modules.Linear(1, 1)).step()
