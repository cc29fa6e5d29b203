"""The MNIST recipe's optimizer setup and its learning-rate schedule."""

import numpy as np
import pytest

from nnplug import modules, optimizers, recipes


class FixedStep(optimizers.Optimizer):
    """An optimizer that keeps its step size under another name."""

    def __init__(self, module: modules.Module, step_size: float = 0.1) -> None:
        super().__init__(module)
        self.step_size = step_size

    def step(self) -> None:
        for param, grad in zip(self.module.parameters(), self.module.gradients(), strict=True):
            param -= self.step_size * grad


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_make_optimizer_builds_the_registered_optimizer_with_the_recipes_settings(name):
    recipe = recipes.MnistRecipe()
    optimizer = recipes.make_optimizer(name, modules.Linear(2, 1), recipe)
    assert optimizer.learning_rate == recipe.learning_rate
    if name == "sgd":
        assert optimizer.momentum == recipe.momentum


def test_without_a_learning_rate_each_optimizer_keeps_its_own_default():
    recipe = recipes.MnistRecipe(learning_rate=None)
    optimizer = recipes.make_optimizer("rmsprop", modules.Linear(2, 1), recipe)
    assert optimizer.learning_rate == optimizers.RMSprop(modules.Linear(2, 1)).learning_rate


def test_the_schedule_leaves_an_optimizer_without_a_learning_rate_alone(monkeypatch):
    monkeypatch.setattr(recipes, "make_optimizer", lambda name, model, recipe: FixedStep(model))
    rng = np.random.default_rng(0)
    x = rng.random((8, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)]
    model = recipes.article_mnist_model()
    history = recipes.train_mnist(model, (x, y, x, y), recipes.MnistRecipe(epochs=2))
    assert len(history.reports) == 2
