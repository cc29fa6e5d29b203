"""The training loop: the article's contract, batching, shuffling and divergence."""

import numpy as np
import pytest

import nnplug
from nnplug import losses, modules, optimizers, trainer
from nnplug.errors import TrainingDivergedError


class CountingSGD(optimizers.SGD):
    def __init__(self, module, **kwargs):
        super().__init__(module, **kwargs)
        self.steps = 0

    def step(self):
        self.steps += 1
        super().step()


def xor_data(column: bool):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return (x.reshape(4, 2, 1), y.reshape(4, 1, 1)) if column else (x, y)


def xor_model():
    return modules.Sequential(
        [modules.Linear(2, 3), modules.Tanh(), modules.Linear(3, 1), modules.Tanh()]
    )


@pytest.mark.parametrize("column", [True, False])
def test_xor_is_learned(backend, column):
    nnplug.seed(0)
    x, y = xor_data(column)
    model = xor_model()
    errors = trainer.train(
        model, x, y, losses.MSE(), optimizers.SGD(model, learning_rate=0.05), 1000, verbose=False
    )
    assert len(errors) == 1000 and errors[-1] < 0.01
    predictions = trainer.predict(model, x)
    np.testing.assert_array_equal(predictions.reshape(-1) > 0.5, [False, True, True, False])


def test_prints_the_articles_lines(backend, capsys):
    x, y = xor_data(True)
    model = xor_model()
    errors = trainer.train(model, x, y, losses.MSE(), optimizers.SGD(model), epochs=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"1/2 error={errors[0]:.5f}", f"2/2 error={errors[1]:.5f}"]


@pytest.mark.parametrize(("batch_size", "steps"), [(1, 10), (3, 4), (10, 1), (64, 1)])
def test_one_step_per_batch(batch_size, steps, rng):
    model = modules.Sequential([modules.Linear(2, 1)])
    sgd = CountingSGD(model)
    x, y = rng.standard_normal((10, 2)), rng.standard_normal((10, 1))
    trainer.train(model, x, y, losses.MSE(), sgd, 1, batch_size=batch_size, verbose=False)
    assert sgd.steps == steps


def test_epoch_error_is_the_mean_over_samples(rng):
    model = modules.Sequential([modules.Linear(3, 2), modules.Softmax()])
    x = rng.standard_normal((7, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1, 0, 0]]
    before = trainer.evaluate(model, x, y, losses.CrossEntropy())
    per_sample = np.mean(
        [losses.CrossEntropy().loss(t, model.forward(s)) for s, t in zip(x, y, strict=True)]
    )
    assert before == pytest.approx(per_sample, rel=1e-5)
    tiny_lr = optimizers.SGD(model, learning_rate=1e-12, momentum=0)
    (error,) = trainer.train(model, x, y, losses.CrossEntropy(), tiny_lr, 1, 3, verbose=False)
    assert error == pytest.approx(before, rel=1e-5)


def test_shuffled_training_is_reproducible_with_a_seed(rng):
    x, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))

    def run():
        nnplug.seed(42)
        model = modules.Sequential([modules.Linear(3, 1)])
        trainer.train(
            model, x, y, losses.MSE(), optimizers.SGD(model), 2, 4, shuffle=True, verbose=False
        )
        return model.parameters()[0].copy()

    np.testing.assert_array_equal(run(), run())


def test_nan_loss_stops_training_with_the_epoch_and_batch(rng):
    model = modules.Sequential([modules.Linear(2, 1)])
    x = rng.standard_normal((8, 2))
    x[5, 0] = np.nan
    y = np.zeros((8, 1))
    with pytest.raises(TrainingDivergedError, match="epoch 1, batch 3.*learning_rate=0.01"):
        trainer.train(model, x, y, losses.MSE(), optimizers.SGD(model), 3, 2, verbose=False)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_nan_loss_can_warn_instead(rng):
    model = modules.Sequential([modules.Linear(2, 1)])
    x = np.full((4, 2), np.inf)
    with pytest.warns(RuntimeWarning, match="diverged"):
        errors = trainer.train(
            model,
            x,
            np.zeros((4, 1)),
            losses.MSE(),
            optimizers.SGD(model),
            3,
            verbose=False,
            on_nonfinite="warn",
        )
    assert errors == []


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_large_learning_rate_divergence_is_caught():
    nnplug.seed(0)
    x, y = xor_data(False)
    model = modules.Sequential([modules.Linear(2, 1)])
    with pytest.raises(TrainingDivergedError, match="try a smaller one"):
        trainer.train(
            model,
            x * 1e20,
            y,
            losses.MSE(),
            optimizers.SGD(model, learning_rate=1e10),
            50,
            verbose=False,
        )


def test_callback_gets_every_epoch():
    x, y = xor_data(False)
    model = xor_model()
    seen = []
    trainer.train(
        model,
        x,
        y,
        losses.MSE(),
        optimizers.SGD(model),
        3,
        verbose=False,
        callback=lambda epoch, error: seen.append(epoch),
    )
    assert seen == [1, 2, 3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"on_nonfinite": "ignore"}, "on_nonfinite"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    x, y = xor_data(False)
    model = xor_model()
    args = {"epochs": 1, "verbose": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        trainer.train(model, x, y, losses.MSE(), optimizers.SGD(model), **args)


def test_mismatched_and_empty_data_are_rejected():
    model = xor_model()
    with pytest.raises(ValueError, match="x_train has 4 samples but y_train has 3"):
        trainer.train(
            model, np.zeros((4, 2)), np.zeros((3, 1)), losses.MSE(), optimizers.SGD(model), 1
        )
    with pytest.raises(ValueError, match="empty"):
        trainer.train(
            model, np.zeros((0, 2)), np.zeros((0, 1)), losses.MSE(), optimizers.SGD(model), 1
        )


def test_accuracy_takes_class_indices_or_one_hot():
    model = modules.Sequential([modules.Linear(2, 2), modules.Softmax()])
    model[0].weights[:] = [[1, 0], [0, 1]]
    x = np.array([[3, 0], [0, 3], [3, 0]], dtype=np.float32)
    assert trainer.accuracy(model, x, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert trainer.accuracy(model, x, np.eye(2)[[0, 1, 1]].reshape(3, 2, 1)) == pytest.approx(2 / 3)
