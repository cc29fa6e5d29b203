"""Swish (also called SiLU): ``x * sigmoid(beta * x)``, with a fixed or a learnable ``beta``."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from nnplug.modules import Module
from nnplug.plugin_kernels import ElementwiseKernels

try:  # compiled from csrc/swish.c at install time, unless no C compiler was available
    from nnplug_swish._kernels import ffi, lib
except ImportError:
    KERNELS = None
else:
    KERNELS = ElementwiseKernels.from_library(ffi, lib, "swish")


class Swish(Module):
    """Swish, element-wise: ``x * sigmoid(beta * x)`` (Ramachandran et al., 2017).

    ``beta=1`` is SiLU. With ``trainable=True``, ``beta`` is a parameter the optimizer
    learns. ``dtype`` is the dtype of ``beta`` and of the outputs, float32 or float64.
    The sigmoid runs on nnplug's current backend; the rest is plain NumPy. That is the
    layer's definition; nnplug's training plan runs the C kernels of csrc/swish.c instead,
    once they match it, for a fixed float32 ``beta``.
    """

    # The C kernels (None if they were not built); kernel_params() gives them beta.
    c_kernels: ClassVar[ElementwiseKernels | None] = KERNELS

    # Spec arguments the conformance kit (`nnplug check`) builds this layer with.
    check_examples: ClassVar[list[dict[str, Any]]] = [
        {},
        {"beta": 0.5},
        {"beta": 1.5, "trainable": True},
    ]

    def __init__(
        self, beta: float = 1.0, *, trainable: bool = False, dtype: str = "float32"
    ) -> None:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
            raise ValueError(f"Swish: beta must be a finite number, got {beta!r}")
        if not isinstance(trainable, bool):
            raise TypeError(f"Swish: trainable must be True or False, got {trainable!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"Swish: dtype must be float32 or float64, got {self.dtype}")
        self.trainable = trainable
        # A one-element array, so that optimizers can update it in place.
        self.beta = np.array([beta], dtype=self.dtype)
        self.beta_grad = np.zeros_like(self.beta)
        self.inputs: np.ndarray | None = None
        self.gate: np.ndarray | None = None

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Return ``inputs * sigmoid(beta * inputs)``, keeping what ``backward`` needs."""
        array = np.asarray(inputs)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{self!r}: inputs must be a numeric array, got dtype {array.dtype}")
        self.inputs = np.ascontiguousarray(array, dtype=self.dtype)
        self.gate = self._sigmoid(self.beta[0] * self.inputs)
        return self.inputs * self.gate

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        """Accumulate the gradient of ``beta`` (if trainable); return the input gradient."""
        if self.inputs is None or self.gate is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        grad = np.asarray(output_grad, dtype=self.dtype)
        if grad.shape != self.inputs.shape:
            raise ValueError(
                f"{self!r}: output_grad must have the shape of the outputs, "
                f"{self.inputs.shape}; got shape {grad.shape}"
            )
        x, gate = self.inputs, self.gate
        slope = gate * (1 - gate)  # the sigmoid's derivative at beta * x
        if self.trainable:
            self.beta_grad += np.sum(grad * x * x * slope)
        return grad * (gate + self.beta[0] * x * slope)

    def kernel_params(self) -> tuple[float, ...] | None:
        """``(beta,)`` for the C kernels; None when they do not apply: a learnable beta
        (element-wise kernels compute no parameter gradients) or float64."""
        if self.trainable or self.dtype != np.float32:
            return None
        return (float(self.beta[0]),)

    def _sigmoid(self, z: np.ndarray) -> np.ndarray:
        # Backend kernels take 2-D rows; element-wise, any shape flattens to one row.
        rows = np.ascontiguousarray(z).reshape(1, -1)
        return self.backend.activation_forward("sigmoid", rows).reshape(z.shape)

    def parameters(self) -> list[np.ndarray]:
        return [self.beta] if self.trainable else []

    def gradients(self) -> list[np.ndarray]:
        return [self.beta_grad] if self.trainable else []

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"beta": float(self.beta[0])}
        if self.trainable:
            config["trainable"] = True
        if self.dtype != np.float32:
            config["dtype"] = self.dtype.name
        return config
