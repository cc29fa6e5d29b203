"""The MNIST recipe's optimizer setup: the learning-rate schedule needs a learning_rate."""

import pytest

from nnplug import modules, optimizers, recipes
from nnplug.errors import SpecError


class FixedStep(optimizers.Optimizer):
    """An optimizer that keeps its step size under another name."""

    def __init__(self, module: modules.Module, step_size: float = 0.1) -> None:
        super().__init__(module)
        self.step_size = step_size


def test_set_learning_rate_changes_the_optimizers_learning_rate():
    model = modules.Linear(2, 1)
    optimizer = optimizers.SGD(model, learning_rate=0.1)
    recipes.set_learning_rate(optimizer, 0.025)
    assert optimizer.learning_rate == 0.025


def test_set_learning_rate_refuses_an_optimizer_without_one():
    optimizer = FixedStep(modules.Linear(2, 1))
    with pytest.raises(SpecError, match="needs an optimizer with a learning_rate attribute"):
        recipes.set_learning_rate(optimizer, 0.025)
    assert not hasattr(optimizer, "learning_rate")


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_make_optimizer_builds_the_registered_optimizer_with_the_recipes_settings(name):
    recipe = recipes.MnistRecipe()
    optimizer = recipes.make_optimizer(name, modules.Linear(2, 1), recipe)
    assert optimizer.learning_rate == recipe.learning_rate
    if name == "sgd":
        assert optimizer.momentum == recipe.momentum
