"""A chain of modules, each feeding the next."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import numpy as np

from nnplug import registry
from nnplug.backends.plan import KernelStep
from nnplug.modules.layout import Layout, as_float_array, as_rows, grad_as_rows
from nnplug.modules.module import Module, keeps_methods


class Sequential(Module):
    """Runs ``modules`` in order; ``backward`` runs them in reverse.

    Column-vector or stacked inputs are turned into rows once here, so the inner modules
    always see ``(batch, features)`` arrays.
    """

    check_examples: ClassVar[list[dict[str, Any]]] = [
        {"layers": [{"type": "linear", "input_size": 4, "output_size": 3}, {"type": "tanh"}]}
    ]

    def __init__(self, modules: Iterable[Module]) -> None:
        self.modules = list(modules)
        for index, module in enumerate(self.modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential: item {index} must be a Module, got {type(module).__name__}"
                )
        self.outputs: np.ndarray | None = None
        self._layout = Layout.ROWS

    @property
    def input_size(self) -> int | None:
        """The number of input features, when the first layer fixes it."""
        return getattr(self.modules[0], "input_size", None) if self.modules else None

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        first = self.modules[0] if self.modules else None
        if getattr(first, "takes_images", False) and np.ndim(inputs) == 4:
            # Images go as they are to a first layer that takes them (Conv2D, Reshape, ...).
            rows, self._layout = as_float_array(inputs, self._dtype(), self, "inputs"), Layout.ROWS
        else:
            rows, self._layout = as_rows(
                inputs, self, features=self.input_size, dtype=self._dtype()
            )
        for module in self.modules:
            try:
                rows = module.forward(rows)
            except Exception as error:
                name_the_plugin(error, module, "forward")
                raise
        self.outputs = rows
        return self._layout.restore(rows)

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        if self.outputs is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before forward()")
        grad = grad_as_rows(output_grad, self.outputs, self._layout, self)
        return self._layout.restore(self._backward_rows(grad, self.modules))

    def backward_before_last(self, grad: np.ndarray) -> np.ndarray:
        """Backpropagate ``grad``, taken at the *inputs* of the last module, through the others.

        The trainer uses this for the fused softmax + cross-entropy gradient.
        """
        if self.outputs is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before forward()")
        rows = grad_as_rows(grad, self.outputs, self._layout, self)
        return self._layout.restore(self._backward_rows(rows, self.modules[:-1]))

    @staticmethod
    def _backward_rows(grad: np.ndarray, modules: list[Module]) -> np.ndarray:
        for module in reversed(modules):
            try:
                grad = module.backward(grad)
            except Exception as error:
                name_the_plugin(error, module, "backward")
                raise
        return grad

    def children(self) -> list[Module]:
        return list(self.modules)

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        if not keeps_methods(self, Sequential, "forward", "backward"):
            return None
        steps: list[KernelStep | Module] = []
        for module in self.modules:
            own = module.kernel_steps()
            steps.extend(own if own is not None else [module])
        return steps

    def _dtype(self) -> np.dtype | None:
        params = self.parameters()
        return params[0].dtype if params else None

    def parameters(self) -> list[np.ndarray]:
        return [param for module in self.modules for param in module.parameters()]

    def gradients(self) -> list[np.ndarray]:
        return [grad for module in self.modules for grad in module.gradients()]

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __len__(self) -> int:
        return len(self.modules)

    def __getitem__(self, index: int) -> Module:
        return self.modules[index]

    def __repr__(self) -> str:
        inner = "".join(f"\n  {module!r}," for module in self.modules)
        return f"Sequential([{inner}\n])"


def name_the_plugin(error: BaseException, module: Module, method: str) -> None:
    """Add a note to ``error`` naming the plugin whose layer raised it, if not nnplug's own."""
    name = registry.layers.name_of(type(module))
    if name is None:
        return
    plugin = registry.layers.provider(name)
    if plugin.distribution == "nnplug" or not hasattr(error, "add_note"):
        return
    note = f"raised in {method}() of layer {name!r}, provided by {plugin.describe()}"
    if note not in getattr(error, "__notes__", ()):
        error.add_note(note)
