"""Training and evaluation mode, Dropout, and what the trainer does with the mode."""

from __future__ import annotations

import numpy as np
import pytest

import nnplug
from nnplug import losses, modules, optimizers, trainer
from nnplug.gradcheck import check_module


class ModeSpy(modules.Module):
    """Records the mode it saw on every forward call."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def forward(self, inputs):
        if len(inputs) > 1:  # a training plan probes a part's width with one row, in eval mode
            self.seen.append(self.training)
        return np.asarray(inputs)

    def backward(self, output_grad):
        return output_grad


def model_with(*layers: modules.Module) -> modules.Sequential:
    return modules.Sequential([modules.Linear(4, 4), *layers, modules.Linear(4, 2)])


def data(samples=12):
    rng = np.random.default_rng(0)
    return rng.standard_normal((samples, 4)), rng.standard_normal((samples, 2))


# --- the mode -------------------------------------------------------------------------------------


def test_a_module_is_in_training_mode_from_construction():
    assert modules.Linear(2, 2).training and ModeSpy().training


def test_train_and_eval_recurse_into_containers_and_return_the_module():
    inner = modules.Sequential([modules.Tanh(), modules.Dropout(0.5)])
    model = modules.Sequential([modules.Linear(2, 2), inner])
    assert model.eval() is model
    assert not any(m.training for m in (model, inner, *inner, model[0]))
    assert model.train() is model
    assert all(m.training for m in (model, inner, *inner, model[0]))
    model.train(False)
    assert not inner[1].training


def test_train_runs_in_training_mode_and_restores_the_mode_it_found():
    spy = ModeSpy()
    model = model_with(spy).eval()
    x, y = data()
    trainer.train(model, x, y, losses.MSE(), optimizers.SGD(model), 1, 4, verbose=False)
    assert spy.seen and all(spy.seen)
    assert not model.training and not spy.training


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x, y: trainer.evaluate(m, x, y, losses.MSE()),
        lambda m, x, y: trainer.predict(m, x),
        lambda m, x, y: trainer.accuracy(m, x, y.argmax(1)),
    ],
    ids=["evaluate", "predict", "accuracy"],
)
def test_evaluation_runs_in_eval_mode_and_restores_the_mode(call):
    spy = ModeSpy()
    model = model_with(spy)
    x, y = data()
    call(model, x, y)
    assert spy.seen and not any(spy.seen)
    assert model.training and spy.training


def test_the_mode_is_restored_when_evaluation_fails():
    model = model_with(ModeSpy())
    with pytest.raises(ValueError):
        trainer.predict(model, np.zeros((3, 5)))
    assert model.training


def test_the_mode_is_not_saved(tmp_path):
    model = model_with(modules.Dropout(0.3)).eval()
    nnplug.save(model, tmp_path / "m.nnp")
    loaded = nnplug.load(tmp_path / "m.nnp")
    assert loaded.training and all(m.training for m in loaded)
    assert nnplug.spec_of(loaded) == nnplug.spec_of(model)


# --- dropout --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [-0.1, 1.0, float("nan"), 2])
def test_dropout_rate_must_be_in_zero_one(rate):
    with pytest.raises(ValueError, match=r"Dropout: rate must be in \[0, 1\)"):
        modules.Dropout(rate)


def test_dropout_rate_must_be_a_number():
    with pytest.raises(TypeError, match="Dropout: rate must be a number, got str"):
        modules.Dropout("0.5")


def test_dropout_is_the_identity_in_eval_mode(backend):
    x = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)
    layer = modules.Dropout(0.5).eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)
    assert layer.counter[0] == 0


def test_dropout_drops_about_rate_and_scales_the_rest(backend):
    x = np.ones((200, 100), dtype=np.float32)
    y = modules.Dropout(0.3).forward(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)


def test_dropout_backward_passes_the_gradient_where_inputs_were_kept(backend):
    layer = modules.Dropout(0.5)
    x = np.random.default_rng(2).standard_normal((6, 8)).astype(np.float32)
    y = layer.forward(x)
    g = np.random.default_rng(3).standard_normal((6, 8)).astype(np.float32)
    dx = layer.backward(g)
    np.testing.assert_allclose(dx, np.where(y != 0, 2 * g, 0), rtol=1e-6)


def test_dropout_draws_a_new_mask_each_training_batch():
    layer = modules.Dropout(0.5)
    x = np.ones((4, 50), dtype=np.float32)
    assert not np.array_equal(layer.forward(x), layer.forward(x))
    assert layer.counter[0] == 2


def test_dropout_masks_are_reproducible_with_nnplug_seed(backend):
    x = np.ones((8, 16), dtype=np.float32)
    runs = []
    for _ in range(2):
        nnplug.seed(11)
        layer = modules.Dropout(0.4)
        runs.append([layer.forward(x), layer.forward(x)])
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.skipif("c" not in nnplug.registry.backends, reason="the C extension is not built")
@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (64, 100)])
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 0.9])
def test_c_and_numpy_draw_the_same_masks_bit_for_bit(shape, rate):
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    c, reference = nnplug.get_backend("c"), nnplug.get_backend("numpy")
    for counter in (0, 1, 2**40):
        got = c.dropout_forward(x, rate, 2**63 + 5, counter)
        want = reference.dropout_forward(x, rate, 2**63 + 5, counter)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


def test_dropout_gradient_in_training_mode_matches_finite_differences():
    layer = modules.Dropout(0.5)
    x = np.random.default_rng(5).standard_normal((4, 6))
    assert check_module(layer, x, replay=True) == []


def test_a_model_with_dropout_learns():
    nnplug.seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    model = modules.Sequential(
        [
            modules.Linear(8, 32),
            modules.Tanh(),
            modules.Dropout(0.2),
            modules.Linear(32, 2),
            modules.Softmax(),
        ]
    )
    trainer.train(
        model, x, y, losses.CrossEntropy(), optimizers.Adam(model, 0.01), 20, 16, verbose=False
    )
    assert trainer.accuracy(model, x, y) > 0.95


# --- RMSprop and the article's xavier ---------------------------------------------------------


def test_rmsprop_follows_its_rule(backend):
    model = modules.Linear(3, 2)
    optimizer = optimizers.RMSprop(model, learning_rate=0.01, decay=0.8, epsilon=1e-6)
    model.weights_grad[...] = 0.5
    before = model.weights.copy()
    optimizer.step()
    mean_square = 0.2 * 0.25
    np.testing.assert_allclose(optimizer.mean_squares[0], mean_square, rtol=1e-6)
    np.testing.assert_allclose(
        model.weights, before - 0.01 * 0.5 / (np.sqrt(mean_square) + 1e-6), rtol=1e-5
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"learning_rate": 0}, "RMSprop: learning_rate must be a finite number > 0"),
        ({"decay": 1.0}, r"RMSprop: decay must be in \[0, 1\)"),
        ({"epsilon": -1}, "RMSprop: epsilon must be a finite number > 0"),
    ],
)
def test_rmsprop_refuses_bad_hyperparameters(arguments, message):
    with pytest.raises(ValueError, match=message):
        optimizers.RMSprop(modules.Linear(2, 2), **arguments)


def test_linear_accepts_the_articles_xavier():
    nnplug.seed(0)
    weights = modules.Linear(400, 300, xavier=True).weights
    assert abs(weights.std() - np.sqrt(1 / 400)) < 0.002
    assert modules.Linear(4, 3, xavier=True).config() == {
        "input_size": 4,
        "output_size": 3,
        "init": "xavier",
    }
    with pytest.raises(ValueError, match="xavier=True asks for init='xavier', but init='he'"):
        modules.Linear(4, 3, xavier=True, init="he")


# --- interrupted and diverging training -------------------------------------------------------


class InterruptOnSecondBackward(modules.Module):
    def __init__(self) -> None:
        self.calls = 0

    def forward(self, inputs):
        return np.asarray(inputs)

    def backward(self, output_grad):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return output_grad


@pytest.mark.parametrize("planned", [True, False], ids=["plan", "layer by layer"])
def test_an_interrupted_batch_leaves_no_gradients_behind(monkeypatch, planned):
    if not planned:
        monkeypatch.setattr(type(nnplug.current_backend()), "plan_runner", lambda s, p: None)
    model = modules.Sequential([InterruptOnSecondBackward(), modules.Linear(4, 2)])
    x, y = data()
    with pytest.raises(KeyboardInterrupt):
        trainer.train(model, x, y, losses.MSE(), optimizers.SGD(model), 1, 4, verbose=False)
    assert all(not grad.any() for grad in model.gradients())


class ExplodingScale(modules.Module):
    """A plugin-style layer ``y = w x`` whose backward sends an infinite gradient to ``w``."""

    def __init__(self) -> None:
        self.w = np.ones(1, dtype=np.float32)
        self.w_grad = np.zeros(1, dtype=np.float32)

    def forward(self, inputs):
        self.inputs = np.asarray(inputs)
        return self.w * self.inputs

    def backward(self, output_grad):
        self.w_grad += np.float32(np.inf)
        return self.w * output_grad

    def parameters(self):
        return [self.w]

    def gradients(self):
        return [self.w_grad]

    def __repr__(self) -> str:
        return "ExplodingScale()"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("planned", [True, False], ids=["plan", "layer by layer"])
def test_divergence_names_the_layer_whose_parameters_went_bad(monkeypatch, planned):
    if not planned:
        monkeypatch.setattr(type(nnplug.current_backend()), "plan_runner", lambda s, p: None)
    model = modules.Sequential(
        [modules.Linear(4, 8), ExplodingScale(), modules.Linear(8, 2), modules.Softmax()]
    )
    x, _ = data(64)
    y = np.eye(2)[(x[:, 0] > 0).astype(int)]
    with pytest.raises(nnplug.errors.TrainingDivergedError) as caught:
        trainer.train(
            model, x, y, losses.CrossEntropy(), optimizers.SGD(model), 1, 8, verbose=False
        )
    message = str(caught.value)
    assert "epoch 1, batch 2" in message
    assert "The parameters of ExplodingScale() are no longer finite" in message
