"""A fully connected layer: ``y = x W^T + b``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from nnplug.arrays import aligned_zeros
from nnplug.backends.plan import KernelStep
from nnplug.modules.layout import Layout, as_rows, grad_as_rows
from nnplug.modules.module import Module, keeps_methods
from nnplug.rng import generator as default_generator

INITIALISERS = ("glorot", "he", "xavier")


class Linear(Module):
    """A linear map from ``input_size`` to ``output_size`` features.

    ``weights`` is ``(output_size, input_size)`` as in the article, ``bias`` is
    ``(output_size,)``. ``init="glorot"`` (uniform, suited to tanh and sigmoid) or ``"he"``
    (normal, suited to ReLU) or ``"xavier"`` (normal scaled by the square root of the
    fan-in, as the article's ``Linear(..., xavier=True)``; ``xavier=True`` is accepted for
    it); biases start at zero. ``rng`` defaults to nnplug's generator (see ``nnplug.seed``).
    """

    check_examples: ClassVar[list[dict[str, Any]]] = [
        {"input_size": 4, "output_size": 3},
        {"input_size": 3, "output_size": 2, "init": "he"},
    ]

    def __init__(
        self,
        input_size: int,
        output_size: int,
        *,
        xavier: bool = False,
        init: str | None = None,
        dtype: str | np.dtype = "float32",
        rng: np.random.Generator | None = None,
    ) -> None:
        if not isinstance(xavier, (bool, np.bool_)):
            raise TypeError(f"Linear: xavier must be True or False, got {xavier!r}")
        if xavier and init not in (None, "xavier"):
            raise ValueError(f"Linear: xavier=True asks for init='xavier', but init={init!r}")
        init = "xavier" if xavier else (init or "glorot")
        for name, size in (("input_size", input_size), ("output_size", output_size)):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"Linear: {name} must be a positive integer, got {size!r}")
        if init not in INITIALISERS:
            raise ValueError(f"Linear: init must be one of {INITIALISERS}, got {init!r}")
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        self.init = init
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"Linear: dtype must be float32 or float64, got {self.dtype}")
        generator = rng if rng is not None else default_generator()
        shape = (self.output_size, self.input_size)
        self.weights = aligned_zeros(shape, self.dtype)
        self.weights[...] = self._initial_weights(generator)
        self.bias = aligned_zeros(self.output_size, self.dtype)
        self.weights_grad = aligned_zeros(shape, self.dtype)
        self.bias_grad = aligned_zeros(self.output_size, self.dtype)
        self.inputs: np.ndarray | None = None
        self._layout = Layout.ROWS

    def _initial_weights(self, generator: np.random.Generator) -> np.ndarray:
        shape = (self.output_size, self.input_size)
        if self.init == "he":
            weights = generator.normal(0.0, np.sqrt(2.0 / self.input_size), size=shape)
        elif self.init == "xavier":
            weights = generator.normal(0.0, np.sqrt(1.0 / self.input_size), size=shape)
        else:
            limit = np.sqrt(6.0 / (self.input_size + self.output_size))
            weights = generator.uniform(-limit, limit, size=shape)
        return weights.astype(self.dtype)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Return ``inputs @ weights.T + bias``, in the form the inputs came in."""
        self.inputs, self._layout = as_rows(
            inputs, self, features=self.input_size, dtype=self.dtype
        )
        self.outputs = self.backend.linear_forward(self.inputs, self.weights, self.bias)
        return self._layout.restore(self.outputs)

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        """Accumulate weight and bias gradients; return the gradient for the inputs."""
        if self.inputs is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        grad = grad_as_rows(output_grad, self.outputs, self._layout, self)
        self.backend.linear_param_grads(grad, self.inputs, self.weights_grad, self.bias_grad)
        return self._layout.restore(self.backend.linear_input_grad(grad, self.weights))

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        if self.dtype != np.float32 or not keeps_methods(self, Linear, "forward", "backward"):
            return None
        arrays = self._weight_arrays()
        return [KernelStep("linear", arrays, inputs=self.input_size, outputs=self.output_size)]

    def parameters(self) -> list[np.ndarray]:
        return [self.weights, self.bias]

    def gradients(self) -> list[np.ndarray]:
        return [self.weights_grad, self.bias_grad]

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"input_size": self.input_size, "output_size": self.output_size}
        if self.init != "glorot":
            config["init"] = self.init
        if self.dtype != np.float32:
            config["dtype"] = self.dtype.name
        return config
