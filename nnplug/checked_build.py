"""Building the model a model file describes: each layer's parameters are checked against
the file's arrays before the layer is built where its layout is known (the built-in layers)
and right after otherwise, and layers draw zeros instead of random initial weights, since
the file's payload overwrites them."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from nnplug import errors, rng
from nnplug.modules.linear import Linear
from nnplug.modules.module import Module
from nnplug.modules.sequential import Sequential
from nnplug.spec import build, walk

ArrayLayout = tuple[np.dtype, tuple[int, ...]]
"""The dtype and shape of one parameter array."""


def build_checked(path: Path, spec: dict[str, Any], arrays: list[ArrayLayout]) -> Module:
    """Build the model ``spec`` describes (the header of the file at ``path``), checking each
    layer's parameters against the file's arrays before it is constructed where its layout
    is known (the built-in layers), and right after otherwise, with weight initialisation
    reduced to zeros."""
    dry = _LayoutCheck(path, arrays, dry=True)
    try:
        walk(spec, dry.before)
    except _LayoutUnknown:
        pass  # a plugin layer: what follows it is checked as the model is built
    else:
        dry.finish()
    check = _LayoutCheck(path, arrays)
    with zero_initialisation(arrays):
        model = build(spec, before=check.before, after=check.after)
    return model


class _LayoutUnknown(Exception):
    """A layer whose parameters cannot be known without building it."""


class _LayoutCheck:
    """Matches each layer's parameters, in ``parameters()`` order, with the file's arrays."""

    def __init__(self, path: Path, arrays: list[ArrayLayout], *, dry: bool = False) -> None:
        self.path, self.arrays, self.dry = path, arrays, dry
        self.cursor = 0
        self.checked: set[str] = set()
        self.lost = False  # past a container with its own parameters(): checked at the end

    def before(self, where: str, cls: type, kwargs: dict[str, Any]) -> None:
        if self.lost:
            return
        if issubclass(cls, Sequential):
            if cls.parameters is not Sequential.parameters:
                self.lost = True
            return
        layout = _known_layout(cls, kwargs)
        if layout is None:
            if self.dry:
                raise _LayoutUnknown(where)
            return
        self._match(where, cls.__name__, layout)

    def after(self, where: str, module: Module) -> None:
        if self.lost or where in self.checked or isinstance(module, Sequential):
            return
        layout = [(p.dtype.newbyteorder("<"), p.shape) for p in module.parameters()]
        self._match(where, type(module).__name__, layout)

    def _match(self, where: str, name: str, layout: list[ArrayLayout]) -> None:
        self.checked.add(where)
        for index, (dtype, shape) in enumerate(layout):
            position = self.cursor + index
            if position >= len(self.arrays):
                raise errors.ModelFileError(
                    f"{self.path}: parameter {index} of {name} at {where} is "
                    f"{dtype}{list(shape)}, but the file holds only {len(self.arrays)} arrays"
                )
            if self.arrays[position] != (dtype, tuple(shape)):
                saved_dtype, saved_shape = self.arrays[position]
                raise errors.ModelFileError(
                    f"{self.path}: parameter {index} of {name} at {where} is "
                    f"{dtype}{list(shape)} by the spec, but arrays[{position}] in the file is "
                    f"{saved_dtype}{list(saved_shape)}"
                )
        self.cursor += len(layout)

    def finish(self) -> None:
        if not self.lost and self.cursor != len(self.arrays):
            raise errors.ModelFileError(
                f"{self.path}: the file holds {len(self.arrays)} parameter arrays, but the "
                f"model its spec describes has {self.cursor}"
            )


def _known_layout(cls: type, kwargs: dict[str, Any]) -> list[ArrayLayout] | None:
    """The parameters ``cls(**kwargs)`` will have, when that is known without building it."""
    if getattr(cls, "parameters", None) is Module.parameters:
        return []
    if cls is Linear:
        try:
            bound = inspect.signature(Linear).bind(**kwargs)
            bound.apply_defaults()
            rows, columns = bound.arguments["output_size"], bound.arguments["input_size"]
            dtype = np.dtype(bound.arguments["dtype"]).newbyteorder("<")
        except (TypeError, ValueError):
            return None  # the constructor says what is wrong
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (rows, columns)):
            return None
        return [(dtype, (rows, columns)), (dtype, (rows,))]
    return None


class _Zeros(np.ndarray):
    """A draw of :class:`_ZeroDraws`: zeros, whose ``astype`` gives zeros of the new dtype
    from the same generator instead of copying."""

    draws: _ZeroDraws

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.draws.zeros(self.shape, np.dtype(dtype))


class _ZeroDraws(np.random.Generator):
    """A generator whose uniform and normal draws are zeros, for weights about to be read.

    Draws are views of one zero buffer per dtype, sized for the file's largest array and
    kept until the model is built: untouched zeros cost no memory, and no large array is
    freed while layers allocate theirs (glibc would then take those from its heap and
    touch them). The values do not matter (the payload overwrites them), only the shapes.
    """

    def __init__(self, elements: int) -> None:
        super().__init__(np.random.PCG64(0))
        self.elements = elements
        self.buffers: dict[np.dtype, np.ndarray] = {}

    def zeros(self, size: Any, dtype: np.dtype) -> np.ndarray:
        shape = () if size is None else (size,) if isinstance(size, int) else tuple(size)
        count = math.prod(shape)
        if count > self.elements:
            return np.zeros(shape, dtype)
        if dtype not in self.buffers:
            self.buffers[dtype] = np.zeros(self.elements, dtype)
        view = self.buffers[dtype][:count].reshape(shape).view(_Zeros)
        view.draws = self
        return view

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None) -> Any:
        return self.zeros(size, np.dtype(np.float64))

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None) -> Any:
        return self.zeros(size, np.dtype(np.float64))


@contextmanager
def zero_initialisation(arrays: list[ArrayLayout]) -> Iterator[None]:
    """Give layers zeros instead of random initial weights, and leave nnplug's stream as it was."""
    with rng.drawing_from(_ZeroDraws(max((math.prod(shape) for _, shape in arrays), default=0))):
        yield
