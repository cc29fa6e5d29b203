"""The training plan: what each part says it does, and that running it computes what the
parts compute one call at a time (bitwise with one thread)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import nnplug
from nnplug import losses, modules, optimizers, trainer
from nnplug.backends.plan import KernelStep, PythonLoss, PythonStep, PythonUpdate
from nnplug.errors import TrainingDivergedError
from nnplug.planner import training_plan

requires_c = pytest.mark.skipif(
    "c" not in nnplug.registry.backends, reason="the C extension is not built"
)


class Swish(modules.Activation):
    """A pure-Python plugin-style activation: no kernels of its own."""

    def activation(self, inputs):
        return inputs / (1 + np.exp(-inputs))

    def activation_prime(self, inputs):
        s = 1 / (1 + np.exp(-inputs))
        return s + inputs * s * (1 - s)


class LoggedSGD(optimizers.SGD):
    """SGD whose step is overridden: it must run from Python, not as the SGD kernel."""

    def step(self):
        super().step()


class LoggedMSE(losses.MSE):
    """MSE whose loss is overridden: the plan must call it, not the MSE kernel."""

    def loss(self, y_true, y_pred):
        return super().loss(y_true, y_pred)


def article_model(first=modules.Tanh, dropout=0.0, seed=0):
    nnplug.seed(seed)
    layers = [modules.Linear(20, 16), first()]
    if dropout:
        layers.append(modules.Dropout(dropout))
    layers += [modules.Linear(16, 8), modules.Tanh()]
    if dropout:
        layers.append(modules.Dropout(dropout))
    return modules.Sequential([*layers, modules.Linear(8, 4), modules.Softmax()])


def uneven_model(seed=0):
    """A first layer whose 37 features two threads share unevenly (16 and 21)."""
    nnplug.seed(seed)
    return modules.Sequential(
        [modules.Linear(20, 37), modules.ReLU(), modules.Linear(37, 4), modules.Softmax()]
    )


def wide_input_model(seed=0):
    """1,030 inputs: two threads split the first layer by features for batches of up to 63
    rows and by rows above."""
    nnplug.seed(seed)
    return modules.Sequential(
        [modules.Linear(1030, 16), modules.Tanh(), modules.Linear(16, 4), modules.Softmax()]
    )


def wide_first_layer_model(seed=0, python_activation=False):
    """66k Linear weights: two threads share even a batch too small to split by samples."""
    nnplug.seed(seed)
    return modules.Sequential(
        [
            modules.Linear(1030, 64),
            Swish() if python_activation else modules.Tanh(),
            modules.Reshape((1, 8, 8)),
            modules.Conv2D(1, 2, 3),
            modules.ReLU(),
            modules.Flatten(),
            modules.Linear(72, 4),
            modules.Softmax(),
        ]
    )


def small_cnn(seed=0):
    """Two convolutions (one padded, one strided) and a pool, on 7x7 images given as rows."""
    nnplug.seed(seed)
    return modules.Sequential(
        [
            modules.Reshape((1, 7, 7)),
            modules.Conv2D(1, 3, 3, padding=1),
            modules.ReLU(),
            modules.MaxPool2D(2),
            modules.Conv2D(3, 2, (2, 3), stride=(1, 2)),
            modules.Tanh(),
            modules.Flatten(),
            modules.Linear(2 * 2 * 1, 4),
            modules.Softmax(),
        ]
    )


def data(samples=300, features=20, classes=4, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, features)).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, samples)]
    return x, y


# --- what the parts say --------------------------------------------------------------------------


def test_the_article_model_is_described_by_its_own_kernels():
    model = article_model()
    plan = training_plan(model, losses.CrossEntropy(), optimizers.SGD(model), 20, 4)
    kernels = [step.kernel for step in plan.steps]
    assert kernels == ["linear", "tanh", "linear", "tanh", "linear", "softmax"]
    assert plan.loss == "cross_entropy" and plan.update.rule == "sgd"
    assert plan.parameters[0] is model[0].weights and plan.gradients[1] is model[0].bias_grad


def test_parts_without_kernels_become_python_steps_loss_and_update():
    model = article_model(first=Swish)
    plan = training_plan(model, LoggedMSE(), LoggedSGD(model), 20, 4)
    assert isinstance(plan.steps[1], PythonStep) and plan.steps[1].outputs == 16
    assert [type(step) for step in plan.steps].count(KernelStep) == 5
    assert isinstance(plan.loss, PythonLoss) and isinstance(plan.update, PythonUpdate)


def test_a_subclass_that_overrides_forward_loses_the_kernel_description():
    class Doubling(modules.Linear):
        def forward(self, inputs):
            return 2 * super().forward(inputs)

    assert modules.Linear(2, 3).kernel_steps()[0].kernel == "linear"
    assert Doubling(2, 3).kernel_steps() is None


def test_dropout_has_a_kernel_only_while_training():
    layer = modules.Dropout(0.3)
    assert layer.kernel_steps()[0].kernel == "dropout"
    assert layer.eval().kernel_steps() == []
    assert modules.Dropout(0.0).kernel_steps() == []


@pytest.mark.parametrize(
    "model",
    [
        modules.Sequential([modules.Linear(20, 4, dtype="float64")]),
        modules.Sequential([modules.Linear(19, 4)]),
    ],
    ids=["float64", "shapes do not chain"],
)
def test_no_plan_where_it_cannot_help(model):
    assert training_plan(model, losses.MSE(), optimizers.SGD(model), 20, 4) is None


def test_no_plan_for_a_model_of_python_parts_only():
    model = Swish()
    assert training_plan(model, LoggedMSE(), LoggedSGD(model), 4, 4) is None


def test_image_layers_become_image_steps_with_their_shapes_filled_in():
    model = small_cnn()
    plan = training_plan(model, losses.CrossEntropy(), optimizers.SGD(model), 49, 4)
    kernels = [step.kernel for step in plan.steps]
    assert kernels == ["conv2d", "relu", "maxpool2d", "conv2d", "tanh", "linear", "softmax"]
    first, _, pool, second = plan.steps[:4]
    assert (first.inputs, first.outputs) == (49, 3 * 7 * 7)
    assert (pool.numbers["height"], pool.outputs) == (7, 3 * 3 * 3)
    assert (second.numbers["channels"], second.numbers["width"], second.outputs) == (3, 3, 4)


def test_an_image_layer_of_unknown_shape_leaves_the_model_to_the_layers():
    model = modules.Sequential([modules.Conv2D(1, 2, 3), modules.Flatten(), modules.Linear(8, 4)])
    assert training_plan(model, losses.MSE(), optimizers.SGD(model), 16, 4) is None


def test_numpy_backend_runs_no_plan():
    model = article_model()
    plan = training_plan(model, losses.CrossEntropy(), optimizers.SGD(model), 20, 4)
    assert nnplug.get_backend("numpy").plan_runner(plan) is None


# --- the plan computes what the parts compute ----------------------------------------------------


def train_twice(monkeypatch, make, epochs=2, batch_size=16, threads=1, shuffle=True):
    """Train the same model on the C plan and layer by layer; return both results."""
    from nnplug._c.backend import CBackend

    nnplug.set_num_threads(threads)
    x, y = data(features=make()[0].input_size or 20)
    results = []
    for planned in (True, False):
        model, loss, make_optimizer = make()
        optimizer = make_optimizer(model)
        with monkeypatch.context() as patch:
            if not planned:
                patch.setattr(CBackend, "plan_runner", lambda self, plan: None)
            with nnplug.use_backend("c"):
                errors = trainer.train(
                    model,
                    x,
                    y,
                    loss,
                    optimizer,
                    epochs,
                    batch_size,
                    shuffle=shuffle,
                    verbose=False,
                    rng=np.random.default_rng(7),
                )
        results.append((errors, [p.copy() for p in model.parameters()], optimizer))
    return results


CASES = {
    "sgd": lambda: (article_model(), losses.CrossEntropy(), optimizers.SGD),
    "adam": lambda: (article_model(), losses.CrossEntropy(), optimizers.Adam),
    "rmsprop": lambda: (article_model(), losses.CrossEntropy(), optimizers.RMSprop),
    "dropout": lambda: (article_model(dropout=0.2), losses.CrossEntropy(), optimizers.Adam),
    "mse": lambda: (article_model(), losses.MSE(), optimizers.SGD),
    "python activation": lambda: (
        article_model(first=Swish),
        losses.CrossEntropy(),
        optimizers.SGD,
    ),
    "python optimizer": lambda: (article_model(), losses.CrossEntropy(), LoggedSGD),
    "python loss": lambda: (article_model(first=Swish), LoggedMSE(), optimizers.RMSprop),
    "convolutions": lambda: (small_cnn(), losses.CrossEntropy(), optimizers.Adam),
    "uneven widths": lambda: (uneven_model(), losses.CrossEntropy(), optimizers.RMSprop),
    "wide inputs": lambda: (wide_input_model(), losses.CrossEntropy(), optimizers.SGD),
}


@requires_c
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("batch_size", [1, 16, 37])
def test_plan_equals_the_layer_by_layer_path_bitwise_with_one_thread(monkeypatch, case, batch_size):
    planned, reference = train_twice(monkeypatch, CASES[case], batch_size=batch_size)
    np.testing.assert_allclose(planned[0], reference[0], rtol=1e-12)
    for got, want in zip(planned[1], reference[1], strict=True):
        np.testing.assert_array_equal(got, want)


@requires_c
@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_with_two_threads_agrees_to_rounding(monkeypatch, case):
    planned, reference = train_twice(monkeypatch, CASES[case], batch_size=64, threads=2, epochs=1)
    np.testing.assert_allclose(planned[0], reference[0], rtol=1e-6)
    for got, want in zip(planned[1], reference[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def tapering_model(seed=0):
    """Four Linear layers of 40, 24, 10 and 4 features: at three or four threads the later
    ones have fewer tiles of features than threads, and some thread takes none of them."""
    nnplug.seed(seed)
    return modules.Sequential(
        [
            modules.Linear(20, 40),
            modules.Tanh(),
            modules.Linear(40, 24),
            modules.Tanh(),
            modules.Linear(24, 10),
            modules.Tanh(),
            modules.Linear(10, 4),
            modules.Softmax(),
        ]
    )


@requires_c
@pytest.mark.parametrize("threads", [3, 4])
@pytest.mark.parametrize("optimizer", [optimizers.SGD, optimizers.Adam])
def test_more_threads_than_tiles_of_a_layer_agree_to_rounding(monkeypatch, threads, optimizer):
    def make():
        return tapering_model(), losses.CrossEntropy(), optimizer

    planned, reference = train_twice(monkeypatch, make, batch_size=64, threads=threads, epochs=1)
    np.testing.assert_allclose(planned[0], reference[0], rtol=1e-6)
    for got, want in zip(planned[1], reference[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


WIDE_CASES = {
    "sgd": lambda: (wide_first_layer_model(), losses.CrossEntropy(), optimizers.SGD),
    "adam": lambda: (wide_first_layer_model(), losses.CrossEntropy(), optimizers.Adam),
    "python parts": lambda: (
        wide_first_layer_model(python_activation=True),
        LoggedMSE(),
        LoggedSGD,
    ),
}


@requires_c
@pytest.mark.parametrize("case", sorted(WIDE_CASES))
@pytest.mark.parametrize("batch_size", [1, 5, 31])
def test_small_batches_shared_by_features_agree_to_rounding(monkeypatch, case, batch_size):
    planned, reference = train_twice(
        monkeypatch, WIDE_CASES[case], batch_size=batch_size, threads=2, epochs=1
    )
    np.testing.assert_allclose(planned[0], reference[0], rtol=1e-5)
    for got, want in zip(planned[1], reference[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@requires_c
def test_two_threads_take_a_batch_of_one_when_the_linear_layers_are_wide():
    def workspace(model, threads):
        inputs = model[0].input_size
        plan = training_plan(model, losses.CrossEntropy(), optimizers.SGD(model), inputs, 4)
        return nnplug.get_backend("c").plan_runner(plan)._workspace(1, threads).size

    wide, narrow = wide_first_layer_model(), article_model()
    # The second thread's private copy of the convolution's gradients: 2 x 9 weights and 2
    # biases, each padded to a multiple of 16 floats.
    assert workspace(wide, 2) - workspace(wide, 1) == 32 + 16
    assert workspace(narrow, 2) == workspace(narrow, 1)


@requires_c
def test_adam_counts_the_steps_the_plan_took(monkeypatch):
    planned, reference = train_twice(monkeypatch, CASES["adam"], batch_size=16)
    assert planned[2].steps == reference[2].steps == 2 * len(range(0, 300, 16))


@requires_c
def test_dropout_counters_advance_once_per_batch(monkeypatch):
    nnplug.set_num_threads(1)
    x, y = data()
    model = article_model(dropout=0.2)
    with nnplug.use_backend("c"):
        trainer.train(
            model, x, y, losses.CrossEntropy(), optimizers.SGD(model), 1, 30, verbose=False
        )
    assert [int(layer.counter[0]) for layer in model if isinstance(layer, modules.Dropout)] == [
        10,
        10,
    ]


@requires_c
def test_plan_on_the_numpy_reference_backend_agrees_to_rounding():
    x, y = data()
    results = []
    for backend in ("c", "numpy"):
        model = article_model(dropout=0.2)
        with nnplug.use_backend(backend):
            trainer.train(
                model, x, y, losses.CrossEntropy(), optimizers.Adam(model), 1, 16, verbose=False
            )
        results.append(model.parameters())
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


# --- stopping --------------------------------------------------------------------------------


@requires_c
@pytest.mark.parametrize(("batch_size", "threads", "batch"), [(16, 1, 7), (64, 2, 2)])
def test_a_nonfinite_loss_stops_the_plan_at_the_same_batch_as_the_layers(
    monkeypatch, batch_size, threads, batch
):
    nnplug.set_num_threads(threads)
    x, y = data()
    x[100] = np.nan
    messages, parameters = [], []
    for planned in (True, False):
        model = article_model()
        with monkeypatch.context() as patch:
            if not planned:
                from nnplug._c.backend import CBackend

                patch.setattr(CBackend, "plan_runner", lambda self, plan: None)
            with nnplug.use_backend("c"), pytest.raises(TrainingDivergedError) as caught:
                trainer.train(
                    model,
                    x,
                    y,
                    losses.CrossEntropy(),
                    optimizers.SGD(model),
                    1,
                    batch_size,
                    verbose=False,
                )
        messages.append(str(caught.value))
        parameters.append(model.parameters())
    assert messages[0] == messages[1] and f"epoch 1, batch {batch}" in messages[0]
    # The batch that stopped the run updated nothing: the parameters are the earlier batches'.
    for got, want in zip(*parameters, strict=True):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@requires_c
def test_an_error_in_a_python_step_reaches_the_caller_and_leaves_no_gradients():
    class Failing(Swish):
        calls = 0

        def backward(self, output_grad):
            Failing.calls += 1
            if Failing.calls == 3:
                raise KeyboardInterrupt
            return super().backward(output_grad)

    model = article_model(first=Failing)
    x, y = data()
    with nnplug.use_backend("c"), pytest.raises(KeyboardInterrupt):
        trainer.train(
            model, x, y, losses.CrossEntropy(), optimizers.SGD(model), 1, 8, verbose=False
        )
    assert all(not grad.any() for grad in model.gradients())


@requires_c
def test_the_plan_refuses_arrays_that_are_not_the_models():
    from nnplug._c.plan import CPlanRunner

    model = article_model()
    plan = training_plan(model, losses.CrossEntropy(), optimizers.SGD(model), 20, 4)
    stranger = KernelStep(
        "linear",
        {**plan.steps[0].arrays, "weights": np.zeros((16, 20), np.float32)},
        inputs=20,
        outputs=16,
    )
    broken = type(plan)(
        (stranger, *plan.steps[1:]),
        plan.loss,
        plan.parameters,
        plan.gradients,
        plan.update,
        plan.inputs,
    )
    with pytest.raises(ValueError, match="plan step 0 \\(linear\\): its weights"):
        CPlanRunner.build(broken)


@requires_c
def test_the_plan_refuses_a_parameter_whose_state_is_its_gradient():
    from nnplug._c.plan import CPlanRunner

    model = article_model()
    plan = training_plan(model, losses.CrossEntropy(), optimizers.Adam(model), 20, 4)
    velocities = list(plan.update.state[0])
    velocities[2] = plan.gradients[2]
    update = dataclasses.replace(plan.update, state=(velocities, plan.update.state[1]))
    with pytest.raises(
        ValueError,
        match=r"plan parameter 2: gradient \(shape \(8, 16\)\) overlaps optimizer state 0",
    ):
        CPlanRunner.build(dataclasses.replace(plan, update=update))


@requires_c
@pytest.mark.parametrize(
    ("x_shape", "y_shape", "order", "message"),
    [
        ((5, 19), (5, 4), None, "expected x \\(N, 20\\)"),
        ((5, 20), (5, 3), None, "targets \\(N, 4\\)"),
        ((5, 20), (5, 4), [0, 5], "indices in \\[0, 5\\)"),
        ((5, 20), (5, 4), [-1], "indices in \\[0, 5\\)"),
    ],
)
def test_the_plan_runner_refuses_what_c_must_not_see(x_shape, y_shape, order, message):
    from nnplug._c.plan import CPlanRunner

    model = article_model()
    runner = CPlanRunner.build(
        training_plan(model, losses.CrossEntropy(), optimizers.SGD(model), 20, 4)
    )
    x, y = np.zeros(x_shape, np.float32), np.zeros(y_shape, np.float32)
    with pytest.raises(ValueError, match=message):
        runner.run(x, y, None if order is None else np.array(order), 4)
