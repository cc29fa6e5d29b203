"""The fused MLP path: which models take it, and that it computes what the layers compute."""

import numpy as np
import pytest

import nnplug
from nnplug import losses, modules, optimizers, trainer
from nnplug.errors import TrainingDivergedError
from nnplug.fused import mlp_plan

requires_c = pytest.mark.skipif(
    "c" not in nnplug.registry.backends, reason="the C extension is not built"
)


class PlainSGD(optimizers.SGD):
    """SGD under another type, so the trainer takes the layer-by-layer path."""


def article_model(seed=0, hidden=(100, 50), inputs=784):
    nnplug.seed(seed)
    sizes = (inputs, *hidden)
    layers = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        layers += [modules.Linear(a, b), modules.Tanh()]
    return modules.Sequential([*layers, modules.Linear(sizes[-1], 10), modules.Softmax()])


def test_article_model_has_a_plan():
    model = article_model()
    plan = mlp_plan(model, losses.CrossEntropy(), optimizers.SGD(model))
    assert plan is not None and plan.head == "softmax_cross_entropy"
    assert [layer.activation for layer in plan.layers] == ["tanh", "tanh", None]
    assert (plan.input_size, plan.output_size) == (784, 10)


def test_mse_model_has_a_plan():
    model = modules.Sequential([modules.Linear(2, 3), modules.Tanh(), modules.Linear(3, 1)])
    plan = mlp_plan(model, losses.MSE(), optimizers.SGD(model))
    assert plan is not None and plan.head == "mse"


@pytest.mark.parametrize(
    "make",
    [
        lambda m: (m, losses.CrossEntropy(), optimizers.Adam(m)),
        lambda m: (m, losses.CrossEntropy(), PlainSGD(m)),
        lambda m: (
            modules.Sequential([modules.Linear(4, 2), modules.Tanh(), modules.Tanh()]),
            losses.MSE(),
            None,
        ),
        lambda m: (modules.Sequential([modules.Linear(4, 2, dtype="float64")]), losses.MSE(), None),
        lambda m: (modules.Sequential([modules.Tanh(), modules.Linear(4, 2)]), losses.MSE(), None),
        lambda m: (
            modules.Sequential([modules.Linear(4, 2), modules.Tanh(), modules.Softmax()]),
            losses.CrossEntropy(),
            None,
        ),
    ],
)
def test_other_setups_take_the_general_path(make):
    model, loss, optimizer = make(article_model(hidden=(8,), inputs=4))
    assert mlp_plan(model, loss, optimizer or optimizers.SGD(model)) is None


def test_optimizer_of_another_model_has_no_plan():
    model, other = article_model(), article_model()
    assert mlp_plan(model, losses.CrossEntropy(), optimizers.SGD(other)) is None


@pytest.fixture
def one_thread():
    previous = nnplug.get_num_threads()
    nnplug.set_num_threads(1)
    try:
        yield
    finally:
        nnplug.set_num_threads(previous)


@requires_c
@pytest.mark.parametrize("threads", [2, 3, 4])
@pytest.mark.parametrize("batch_size", [31, 32, 64, 100, 256])
def test_threads_share_batches_without_changing_the_result(batch_size, threads, one_thread):
    x, y = data(samples=600)
    single_errors, single = train_copy("c", optimizers.SGD, x, y, batch_size)
    nnplug.set_num_threads(threads)
    errors, params = train_copy("c", optimizers.SGD, x, y, batch_size)
    np.testing.assert_allclose(errors, single_errors, rtol=1e-5)
    for got, want in zip(params, single, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@requires_c
def test_threaded_divergence_stops_at_the_same_batch(one_thread):
    x, y = data(samples=512, features=6)
    x[300, 2] = np.nan
    nnplug.set_num_threads(2)
    with nnplug.use_backend("c"):
        model = article_model(hidden=(4,), inputs=6)
        with pytest.raises(TrainingDivergedError, match="epoch 1, batch 5"):
            trainer.train(
                model, x, y, losses.CrossEntropy(), optimizers.SGD(model), 1, 64, verbose=False
            )


def train_copy(
    backend,
    optimizer_type,
    x,
    y,
    batch_size,
    epochs=2,
    shuffle=True,
    loss=None,
    model_factory=article_model,
):
    with nnplug.use_backend(backend):
        model = model_factory()
        sgd = optimizer_type(model, learning_rate=0.01, momentum=0.9)
        errors = trainer.train(
            model,
            x,
            y,
            loss or losses.CrossEntropy(),
            sgd,
            epochs,
            batch_size,
            shuffle=shuffle,
            verbose=False,
            rng=np.random.default_rng(3),
        )
    return errors, model.parameters()


def data(samples=300, features=784, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((samples, features), dtype=np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, samples)]
    return x, y


@requires_c
@pytest.mark.parametrize("batch_size", [1, 7, 64, 300, 1000])
@pytest.mark.parametrize("shuffle", [False, True])
def test_fused_matches_layer_by_layer_on_the_c_backend_exactly(batch_size, shuffle, one_thread):
    # Both paths make the same kernel calls on the same (aligned) parameters.
    x, y = data()
    fused_errors, fused = train_copy("c", optimizers.SGD, x, y, batch_size, shuffle=shuffle)
    plain_errors, plain = train_copy("c", PlainSGD, x, y, batch_size, shuffle=shuffle)
    np.testing.assert_allclose(fused_errors, plain_errors, rtol=1e-12)
    for got, want in zip(fused, plain, strict=True):
        np.testing.assert_array_equal(got, want)


@requires_c
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_fused_c_matches_the_numpy_reference(batch_size):
    # Float32 rounding differences (FMA, summation order) grow with every step, so the
    # comparison with the reference is kept to a short run.
    x, y = data(samples=64)
    fused_errors, fused = train_copy("c", optimizers.SGD, x, y, batch_size, epochs=1)
    ref_errors, reference = train_copy("numpy", optimizers.SGD, x, y, batch_size, epochs=1)
    np.testing.assert_allclose(fused_errors, ref_errors, rtol=1e-4)
    for got, want in zip(fused, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


@requires_c
@pytest.mark.parametrize("activation", [modules.Tanh, modules.Sigmoid, modules.ReLU])
def test_fused_mse_head_matches_numpy(activation):
    x, _ = data(samples=64, features=5)
    y = np.random.default_rng(1).random((64, 3), dtype=np.float32)

    def factory():
        nnplug.seed(4)
        return modules.Sequential(
            [modules.Linear(5, 8), activation(), modules.Linear(8, 3), activation()]
        )

    fused_errors, fused = train_copy(
        "c", optimizers.SGD, x, y, 5, loss=losses.MSE(), model_factory=factory
    )
    ref_errors, reference = train_copy(
        "numpy", optimizers.SGD, x, y, 5, loss=losses.MSE(), model_factory=factory
    )
    np.testing.assert_allclose(fused_errors, ref_errors, rtol=1e-4)
    for got, want in zip(fused, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


@requires_c
@pytest.mark.parametrize("backend_name", ["c", "numpy"])
def test_divergence_names_the_same_batch_on_both_paths(backend_name):
    x, y = data(samples=40, features=6)
    x[25, 2] = np.nan
    with nnplug.use_backend(backend_name):
        model = article_model(hidden=(4,), inputs=6)
        with pytest.raises(TrainingDivergedError, match="epoch 1, batch 4"):
            trainer.train(
                model, x, y, losses.CrossEntropy(), optimizers.SGD(model), 2, 8, verbose=False
            )


@requires_c
def test_fused_training_updates_the_layers_in_place():
    x, y = data(samples=50)
    with nnplug.use_backend("c"):
        model = article_model()
        weights = model[0].weights
        before = weights.copy()
        trainer.train(
            model, x, y, losses.CrossEntropy(), optimizers.SGD(model), 1, 10, verbose=False
        )
    assert model[0].weights is weights and not np.array_equal(weights, before)
    assert not any(grad.any() for grad in model.gradients())


@requires_c
@pytest.mark.parametrize(
    ("x_shape", "y_shape", "order", "message"),
    [
        ((10, 5), (10, 10), None, r"expected x \(N, 6\) and targets \(N, 10\)"),
        ((10, 6), (9, 10), None, r"expected x \(N, 6\) and targets \(N, 10\)"),
        ((10, 6), (10, 10), [0, 10], r"sample order must be indices in \[0, 10\)"),
        ((10, 6), (10, 10), [-1], r"sample order must be indices in \[0, 10\)"),
    ],
)
def test_fused_wrapper_refuses_what_c_must_not_see(x_shape, y_shape, order, message):
    from nnplug._c.mlp import mlp_sgd_epoch

    model = article_model(hidden=(4,), inputs=6)
    plan = mlp_plan(model, losses.CrossEntropy(), optimizers.SGD(model))
    x = np.zeros(x_shape, dtype=np.float32)
    y = np.zeros(y_shape, dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        mlp_sgd_epoch(plan, x, y, None if order is None else np.array(order), 4)
