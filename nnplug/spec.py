"""Models as plain JSON: ``build(spec)`` makes a model from a description; ``spec_of`` inverts it.

A spec names a registered component and its constructor arguments::

    {"type": "sequential", "layers": [
        {"type": "linear", "input_size": 784, "output_size": 100},
        {"type": "tanh"},
    ]}

``"layers"`` holds the modules of a ``Sequential`` (its first constructor argument); every
other key is passed to the constructor as a keyword argument. Losses and optimizers have
specs of the same form (``build_loss``, ``build_optimizer``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from nnplug import errors, registry
from nnplug.errors import SpecError
from nnplug.losses import Loss
from nnplug.modules.module import Module
from nnplug.modules.sequential import Sequential
from nnplug.optimizers import Optimizer

__all__ = ["SpecError", "build", "build_loss", "build_optimizer", "spec_of", "walk"]

ROOT = "spec"
CHILDREN = "layers"
MAX_DEPTH = 100  # nesting of containers, and of values within an argument
_NOUNS = {"layers": "layer", "losses": "loss", "optimizers": "optimizer"}
_HOOKS = {"layers": "nnplug_layers", "losses": "nnplug_losses", "optimizers": "nnplug_optimizers"}


Visitor = Callable[[str, type, dict[str, Any]], None]
Built = Callable[[str, Module], None]


def build(
    spec: Mapping[str, Any], *, before: Visitor | None = None, after: Built | None = None
) -> Module:
    """Return the model that ``spec`` describes (a registered layer name and its arguments).

    ``before(path, cls, kwargs)`` is called before each component is constructed (a
    container before its children; it may raise to stop the build) and ``after(path,
    module)`` with each one built (a container after its children).
    """
    return _build_module(spec, ROOT, before, after, 0)


def walk(spec: Mapping[str, Any], visit: Visitor) -> None:
    """Call ``visit(path, cls, kwargs)`` for each component of ``spec`` in build order,
    building nothing; raises SpecError (or an unknown-name error) as ``build`` would."""
    name, kwargs = _parse(spec, ROOT, registry.layers)
    _walk(name, kwargs, ROOT, visit, 0)


def _walk(name: str, kwargs: dict[str, Any], path: str, visit: Visitor, depth: int) -> None:
    cls = registry.layers[name]
    visit(path, cls, kwargs)
    if issubclass(cls, Sequential) and isinstance(kwargs.get(CHILDREN), list):
        _check_depth(path, depth)
        for index, child in enumerate(kwargs[CHILDREN]):
            where = f"{path}.{CHILDREN}[{index}]"
            _walk(*_parse(child, where, registry.layers), where, visit, depth + 1)


def build_loss(spec: Mapping[str, Any]) -> Loss:
    """Return the loss that ``spec`` (e.g. ``{"type": "cross_entropy"}``) describes."""
    name, kwargs = _parse(spec, ROOT, registry.losses)
    return _construct(name, (), kwargs, ROOT, registry.losses)


def build_optimizer(spec: Mapping[str, Any], module: Module) -> Optimizer:
    """Return the optimizer that ``spec`` (e.g. ``{"type": "sgd"}``) describes, for ``module``."""
    name, kwargs = _parse(spec, ROOT, registry.optimizers)
    return _construct(name, (module,), kwargs, ROOT, registry.optimizers)


def spec_of(component: Module | Loss | Optimizer) -> dict[str, Any]:
    """Return the JSON spec that rebuilds ``component`` (a model, loss or optimizer).

    Raises SpecError when its class (or a nested one) is not registered, or when its
    ``config()`` is not made of JSON values.
    """
    if isinstance(component, Module):
        return _module_spec(component, ROOT)
    if isinstance(component, Loss):
        return _component_spec(component, registry.losses, ROOT)
    if isinstance(component, Optimizer):
        return _component_spec(component, registry.optimizers, ROOT)
    raise TypeError(f"spec_of: expected a Module, Loss or Optimizer, got {type(component)!r}")


# --- building ---------------------------------------------------------------------------------


def _build_module(
    spec: object, path: str, before: Visitor | None, after: Built | None, depth: int
) -> Module:
    name, kwargs = _parse(spec, path, registry.layers)
    cls = registry.layers[name]
    if before is not None:
        before(path, cls, kwargs)
    if not issubclass(cls, Sequential):
        module = _construct(name, (), kwargs, path, registry.layers)
    else:
        if CHILDREN not in kwargs:
            raise SpecError(f"{path}: a {name!r} spec needs {CHILDREN!r}, a list of layer specs")
        children = kwargs.pop(CHILDREN)
        if not isinstance(children, list):
            raise SpecError(
                f"{path}.{CHILDREN}: expected a list of layer specs, "
                f"got {_describe_value(children)}"
            )
        _check_depth(path, depth)
        modules = [
            _build_module(child, f"{path}.{CHILDREN}[{i}]", before, after, depth + 1)
            for i, child in enumerate(children)
        ]
        module = _construct(name, (modules,), kwargs, path, registry.layers)
    if after is not None:
        after(path, module)
    return module


def _check_depth(path: str, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise SpecError(f"{path}: containers are nested more than {MAX_DEPTH} deep")


def _parse(spec: object, path: str, kind: registry.Registry) -> tuple[str, dict[str, Any]]:
    """Check one spec's shape and that its type is registered; return its name and arguments."""
    noun = _NOUNS[kind.kind]
    if not isinstance(spec, Mapping):
        raise SpecError(
            f"{path}: expected a {noun} spec, a mapping with a 'type' key, "
            f"got {_describe_value(spec)}"
        )
    if "type" not in spec:
        raise SpecError(f"{path}: missing 'type', the registered {noun} name")
    name = spec["type"]
    if not isinstance(name, str):
        raise SpecError(f"{path}.type: expected a {noun} name (a string), got {name!r}")
    try:
        cls = kind[name]
    except errors.NnplugLookupError as error:
        raise type(error)(f"{path}: {error}") from None
    kwargs = {}
    for key, value in spec.items():
        if not isinstance(key, str):
            raise SpecError(f"{path}: keys must be strings, got {key!r}")
        if key == "type":
            continue
        # A container's children are specs themselves, checked as they are built.
        if key != CHILDREN or not issubclass(cls, Sequential):
            _check_json(value, f"{path}.{key}")
        kwargs[key] = value
    return name, kwargs


def _construct(
    name: str, args: tuple, kwargs: dict[str, Any], path: str, kind: registry.Registry
) -> Any:
    cls = kind[name]
    where = f"{path} ({_NOUNS[kind.kind]} {name!r})"
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as error:
        raise SpecError(f"{where}: {error}; it takes {_parameters(cls, len(args))}") from None
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as error:
        raise SpecError(f"{where}: {error}") from error
    except MemoryError:
        raise
    except Exception as error:  # a plugin's bug: say whose
        raise SpecError(
            f"{where}: building it raised {error!r} (from {kind.provider(name).describe()})"
        ) from error


def _parameters(cls: type, skip: int) -> str:
    params = list(inspect.signature(cls).parameters.values())[skip:]
    names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return f"the arguments {', '.join(names)}" if names else "no arguments"


# --- describing -----------------------------------------------------------------------------


def _module_spec(module: Module, path: str) -> dict[str, Any]:
    spec = _component_spec(module, registry.layers, path)
    if isinstance(module, Sequential):
        spec[CHILDREN] = [
            _module_spec(child, f"{path}.{CHILDREN}[{i}]") for i, child in enumerate(module)
        ]
    return spec


def _component_spec(component: object, kind: registry.Registry, path: str) -> dict[str, Any]:
    cls = type(component)
    name = kind.name_of(cls)
    if name is None:
        raise SpecError(
            f"{path}: {cls.__module__}.{cls.__qualname__} is not a registered "
            f"{_NOUNS[kind.kind]}; register it from a plugin's {_HOOKS[kind.kind]}() hook "
            f"to describe it in a spec"
        )
    config = component.config()  # type: ignore[attr-defined]
    if not isinstance(config, Mapping) or "type" in config:
        raise SpecError(
            f"{path}: {cls.__qualname__}.config() must return a mapping of constructor "
            f"arguments without a 'type' key, got {config!r}"
        )
    for key, value in config.items():
        _check_json(value, f"{path}.{key} ({cls.__qualname__}.config())")
    return {"type": name, **config}


def _check_json(value: object, path: str, depth: int = 0) -> None:
    """Raise SpecError unless ``value`` is made of JSON values only (finite numbers)."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if depth >= MAX_DEPTH:
        raise SpecError(f"{path}: the value is nested more than {MAX_DEPTH} deep")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(f"{path}: expected a finite number, got {value!r}")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SpecError(f"{path}: keys must be strings, got {key!r}")
            _check_json(item, f"{path}.{key}", depth + 1)
        return
    raise SpecError(
        f"{path}: expected a JSON value (number, string, boolean, null, list or mapping), "
        f"got {_describe_value(value)}"
    )


def _describe_value(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__module__}.{type(value).__qualname__} {text}".removeprefix("builtins.")
