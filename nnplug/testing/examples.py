"""The example arguments the kit builds each component with, and the shapes of its inputs."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

from nnplug import registry
from nnplug.modules.sequential import Sequential
from nnplug.spec import CHILDREN
from nnplug.testing.results import Checker, Report, fail

# Layers get inputs of BATCH rows (of FEATURES columns when they have no input_size);
# losses get probability rows and one-hot targets of that shape.
BATCH = 3
FEATURES = 4


def examples_of(cls: type) -> list[dict[str, Any]]:
    """Return the example spec arguments the kit builds ``cls`` with (``check_examples``)."""
    examples = getattr(cls, "check_examples", [{}])
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise TypeError(
            f"{cls.__qualname__}.check_examples must be a list of dicts of constructor "
            f"arguments, got {examples!r}"
        )
    return examples


def _label(example: dict[str, Any]) -> str:
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in example.items())


def each_example(
    report: Report, name: str, kind: str, cls: type
) -> Iterator[tuple[Checker, dict[str, Any]]]:
    try:
        examples = examples_of(cls)
    except TypeError as error:
        message = str(error)
        Checker(report, name, kind).run("examples", lambda: fail(message))
        return
    for example in examples:
        yield Checker(report, name, kind, _label(example)), {"type": name, **example}


def with_dtype(spec: dict[str, Any], kind: registry.Registry, dtype: str) -> dict[str, Any]:
    """Return ``spec`` with ``dtype`` set on every component whose constructor takes one."""
    spec = dict(spec)
    cls = kind[spec["type"]]
    if "dtype" in inspect.signature(cls).parameters:
        spec["dtype"] = dtype
    if isinstance(spec.get(CHILDREN), list) and issubclass(cls, Sequential):
        spec[CHILDREN] = [with_dtype(child, kind, dtype) for child in spec[CHILDREN]]
    return spec
