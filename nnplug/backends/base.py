"""The backend contract: the small, fixed set of kernels that layers, losses and optimizers call.

Every array a kernel receives is a C-contiguous float32 or float64 ``numpy.ndarray``; the
layers make sure of that before calling. Batches are rows: ``x`` is ``(batch, features)``.
Weights are ``(out_features, in_features)`` as in the article, biases ``(out_features,)``.
Kernels that take a ``*_grad`` or optimizer-state buffer update it in place; all others
return new arrays.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal, Protocol

import numpy as np

from nnplug import registry
from nnplug.backends.plan import PlanOutcome, TrainingPlan

ActivationKind = Literal["tanh", "sigmoid", "relu"]
"""The element-wise activations the backend contract computes."""
ACTIVATION_KINDS: tuple[ActivationKind, ...] = ("tanh", "sigmoid", "relu")
"""Every ``ActivationKind``, in a fixed order."""


class PlanRunner(Protocol):
    """A training plan made ready to run on one backend."""

    def run(
        self, x: np.ndarray, targets: np.ndarray, order: np.ndarray | None, batch_size: int
    ) -> PlanOutcome:
        """Train over ``x`` in batches of ``batch_size``: sample ``i`` is row ``order[i]``
        (row ``i`` when ``order`` is None) of the float32 rows ``x`` and ``targets``.

        Computes what the plan's parts would compute one call at a time, batch after
        batch; stops before changing anything at a batch whose loss is not finite.
        """
        ...


class Backend(ABC):
    """A set of numerical kernels; subclasses give it a registry ``name``."""

    name: ClassVar[str]

    # --- dense layers -------------------------------------------------------------

    @abstractmethod
    def linear_forward(self, x: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """Return ``x @ weights.T + bias``, shaped ``(batch, out_features)``."""

    @abstractmethod
    def linear_input_grad(self, grad: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Return ``grad @ weights``, the gradient with respect to the layer's inputs."""

    @abstractmethod
    def linear_param_grads(
        self, grad: np.ndarray, x: np.ndarray, weights_grad: np.ndarray, bias_grad: np.ndarray
    ) -> None:
        """Add ``grad.T @ x`` to ``weights_grad`` and ``grad.sum(0)`` to ``bias_grad``."""

    # --- element-wise activations ----------------------------------------------------

    @abstractmethod
    def activation_forward(self, kind: ActivationKind, x: np.ndarray) -> np.ndarray:
        """Return the activation ``kind`` (tanh, sigmoid or relu) applied element-wise to ``x``."""

    @abstractmethod
    def activation_backward(
        self, kind: ActivationKind, outputs: np.ndarray, output_grad: np.ndarray
    ) -> np.ndarray:
        """Return the input gradient of ``kind`` from its ``outputs`` and ``output_grad``."""

    # --- softmax and cross-entropy ----------------------------------------------------

    @abstractmethod
    def softmax(self, x: np.ndarray) -> np.ndarray:
        """Return the row-wise softmax of ``x``; finite for any finite input."""

    @abstractmethod
    def softmax_backward(self, outputs: np.ndarray, output_grad: np.ndarray) -> np.ndarray:
        """Return the input gradient of a softmax from its ``outputs`` and ``output_grad``."""

    @abstractmethod
    def cross_entropy(self, probs: np.ndarray, targets: np.ndarray) -> float:
        """Return ``-sum(targets * log(probs))`` over all entries, with ``log(0)`` kept finite."""

    @abstractmethod
    def softmax_cross_entropy_grad(
        self, probs: np.ndarray, targets: np.ndarray, scale: float
    ) -> np.ndarray:
        """Return ``(probs - targets) * scale``: the cross-entropy gradient at softmax inputs."""

    # --- optimizer updates --------------------------------------------------------------

    @abstractmethod
    def sgd_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        velocity: np.ndarray,
        learning_rate: float,
        momentum: float,
    ) -> None:
        """In place: ``velocity = momentum * velocity + learning_rate * grad``, then
        ``param -= velocity``."""

    @abstractmethod
    def adam_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        learning_rate: float,
        beta1: float,
        beta2: float,
        epsilon: float,
        step: int,
    ) -> None:
        """In place, one Adam update (Kingma & Ba, with bias correction) at 1-based ``step``."""

    @abstractmethod
    def rmsprop_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        mean_square: np.ndarray,
        learning_rate: float,
        decay: float,
        epsilon: float,
    ) -> None:
        """In place: ``mean_square = decay * mean_square + (1 - decay) * grad**2``, then
        ``param -= learning_rate * grad / (sqrt(mean_square) + epsilon)``."""

    # --- losses -------------------------------------------------------------------------

    @abstractmethod
    def squared_error(self, predictions: np.ndarray, targets: np.ndarray) -> float:
        """Return ``sum((predictions - targets) ** 2)`` over all entries."""

    @abstractmethod
    def squared_error_grad(
        self, predictions: np.ndarray, targets: np.ndarray, scale: float
    ) -> np.ndarray:
        """Return ``(predictions - targets) * scale``; the mean squared error over ``N``
        entries has ``scale = 2 / N``."""

    # --- dropout --------------------------------------------------------------------------

    @abstractmethod
    def dropout_forward(
        self, x: np.ndarray, rate: float, key: int, counter: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x * mask, mask)``: inverted dropout at ``rate``, with the mask that
        ``key``, ``counter`` and each element's index in ``x`` define (the NumPy backend's
        ``dropout_mask`` is the definition)."""

    @abstractmethod
    def dropout_backward(self, mask: np.ndarray, output_grad: np.ndarray) -> np.ndarray:
        """Return ``output_grad * mask``."""

    # --- training plans -----------------------------------------------------------------

    def plan_runner(self, plan: TrainingPlan) -> PlanRunner | None:
        """Optionally make ``plan`` ready to run many batches per call; None (the default)
        means the trainer calls the parts one by one."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"

    # --- convolution and pooling ------------------------------------------------------
    # Images are (batch, channels, height, width); ``stride``, ``padding`` and
    # ``kernel_size`` are (rows, columns) pairs of positive (padding: non-negative) ints.
    # A convolution's output is (batch, out_channels, out_h, out_w) with
    # out_h = (height + 2 * padding[0] - kh) // stride[0] + 1, and likewise out_w.

    @abstractmethod
    def conv2d_forward(
        self,
        x: np.ndarray,
        weights: np.ndarray,
        bias: np.ndarray,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> np.ndarray:
        """Return the cross-correlation of ``x`` with ``weights`` (out, in, kh, kw), plus
        ``bias`` (out,) per output channel; ``x`` is zero-padded by ``padding``."""

    @abstractmethod
    def conv2d_input_grad(
        self,
        grad: np.ndarray,
        weights: np.ndarray,
        image_size: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> np.ndarray:
        """Return the gradient with respect to the inputs, images of ``image_size``
        (height, width), from ``grad`` at the outputs of ``conv2d_forward``."""

    @abstractmethod
    def conv2d_param_grads(
        self,
        grad: np.ndarray,
        x: np.ndarray,
        weights_grad: np.ndarray,
        bias_grad: np.ndarray,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> None:
        """Add the weight gradient to ``weights_grad`` and ``grad.sum((0, 2, 3))`` to
        ``bias_grad``, from the inputs ``x`` and ``grad`` at the outputs."""

    @abstractmethod
    def maxpool2d_forward(
        self, x: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int]
    ) -> np.ndarray:
        """Return the maximum of every ``kernel_size`` window of ``x``, windows ``stride``
        apart: (batch, channels, (height - kh) // stride[0] + 1, (width - kw) // stride[1] + 1)."""

    @abstractmethod
    def maxpool2d_backward(
        self,
        x: np.ndarray,
        grad: np.ndarray,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
    ) -> np.ndarray:
        """Return the input gradient of a max pool: each window's ``grad`` goes to the first
        (in row-major order) position of its maximum; overlapping windows add up."""


registry.accepts("backends", Backend)
