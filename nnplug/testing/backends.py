"""The kit's checks of a backend: every kernel of the Backend contract against the reference."""

from __future__ import annotations

import copy
import functools
from typing import Any

import numpy as np

from nnplug import registry
from nnplug.backends import ACTIVATION_KINDS, Backend, get_backend
from nnplug.testing.compare import REFERENCE_BACKEND, TOLERANCE, compare_all
from nnplug.testing.results import Checker, Failed, Report, Skip

_Case = tuple[str, tuple[Any, ...]]


def _kernel_cases(dtype: np.dtype) -> dict[str, list[_Case]]:
    """Arguments for every kernel of the Backend contract, as ``(label, args)`` pairs."""
    rng = np.random.default_rng(5)

    def array(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(dtype)

    def adam_buffers() -> tuple[np.ndarray, ...]:
        """Parameter, gradient, first and second moments (the second is never negative)."""
        return array(4, 5), array(4, 5), array(4, 5), np.abs(array(4, 5))

    probs = np.abs(array(3, 4)) + 0.1
    probs /= probs.sum(axis=1, keepdims=True)
    targets = np.eye(4, dtype=dtype)[[0, 3, 1]]
    outputs = {
        "tanh": np.tanh(array(3, 5)),
        "sigmoid": 1 / (1 + np.exp(-array(3, 5))),
        "relu": np.maximum(array(3, 5), 0),
    }
    return {
        "linear_forward": [("", (array(3, 5), array(4, 5), array(4)))],
        "linear_input_grad": [("", (array(3, 4), array(4, 5)))],
        "linear_param_grads": [("", (array(3, 4), array(3, 5), array(4, 5), array(4)))],
        "activation_forward": [(kind, (kind, array(3, 5, scale=3))) for kind in ACTIVATION_KINDS],
        "activation_backward": [
            (kind, (kind, outputs[kind].astype(dtype), array(3, 5))) for kind in ACTIVATION_KINDS
        ],
        "softmax": [("", (array(3, 4),)), ("logits of 1e4", (array(3, 4, scale=1e4),))],
        "softmax_backward": [("", (probs.copy(), array(3, 4)))],
        "cross_entropy": [
            ("", (probs.copy(), targets.copy())),
            ("a zero probability", (targets[[1, 0, 2]].copy(), targets.copy())),
        ],
        "softmax_cross_entropy_grad": [("", (probs.copy(), targets.copy(), 1 / 3))],
        "sgd_step": [("", (array(4, 5), array(4, 5), array(4, 5), 0.1, 0.9))],
        "adam_step": [
            (f"step {step}", (*adam_buffers(), 0.01, 0.9, 0.999, 1e-8, step)) for step in (1, 7)
        ],
        "rmsprop_step": [("", (array(4, 5), array(4, 5), np.abs(array(4, 5)), 0.01, 0.9, 1e-7))],
        "squared_error": [("", (array(3, 4), array(3, 4)))],
        "squared_error_grad": [("", (array(3, 4), array(3, 4), 2 / 12))],
        "dropout_forward": [(f"rate {rate}", (array(3, 5), rate, 12345, 7)) for rate in (0.0, 0.3)],
        "dropout_backward": [
            ("", (np.where(array(3, 5) > 0, 2.0, 0.0).astype(dtype), array(3, 5)))
        ],
        # Images (2, 3, 5, 6), 3x2 filters, stride (2, 1), padding 1: outputs (2, 4, 3, 7).
        "conv2d_forward": [("", (array(2, 3, 5, 6), array(4, 3, 3, 2), array(4), (2, 1), (1, 1)))],
        "conv2d_input_grad": [("", (array(2, 4, 3, 7), array(4, 3, 3, 2), (5, 6), (2, 1), (1, 1)))],
        "conv2d_param_grads": [
            (
                "",
                (array(2, 4, 3, 7), array(2, 3, 5, 6), array(4, 3, 3, 2), array(4), (2, 1), (1, 1)),
            )
        ],
        "maxpool2d_forward": [("", (array(2, 3, 5, 6), (2, 2), (2, 2)))],
        "maxpool2d_backward": [("", (array(2, 3, 5, 6), array(2, 3, 2, 3), (2, 2), (2, 2)))],
    }


KERNELS = tuple(_kernel_cases(np.dtype(np.float64)))
"""The kernels the kit checks; the whole abstract surface of ``Backend``."""


def check_backend(name: str) -> Report:
    """Check every kernel of the backend registered as ``name`` against the reference."""
    report = Report()
    checker = Checker(report, name, "backend")
    built: list[Backend] = []
    if not checker.run("build", lambda: built.append(get_backend(name))):
        return report
    reference = get_backend(REFERENCE_BACKEND) if REFERENCE_BACKEND in registry.backends else None
    for kernel in KERNELS:
        checker.run(
            f"kernel {kernel}", functools.partial(_kernel_parity, built[0], reference, kernel)
        )
    return report


def _kernel_parity(backend: Backend, reference: Backend | None, kernel: str) -> None:
    for dtype in TOLERANCE:
        for label, args in _kernel_cases(dtype)[kernel]:
            where = f"{dtype}{f', {label}' if label else ''}"
            actual = _call_kernel(backend, kernel, args)
            _kernel_invariants(kernel, actual, args, where)
            if reference is not None:
                expected = _call_kernel(reference, kernel, args)
                results = len(expected) - len(args)
                names = [f"result {i}" if results > 1 else "result" for i in range(results)]
                names += [f"argument {i} after the call" for i in range(len(args))]
                names = [f"{name} ({where})" for name in names]
                compare_all(names, actual, expected, backend.name, dtype)
    if reference is None:
        raise Skip(f"the {REFERENCE_BACKEND!r} reference backend is not installed")


def _call_kernel(backend: Backend, kernel: str, args: tuple[Any, ...]) -> list[Any]:
    """Call ``kernel`` on copies of ``args``; return its result and the arguments afterwards."""
    copies = copy.deepcopy(args)
    result = getattr(backend, kernel)(*copies)
    results = list(result) if isinstance(result, tuple) else [result]
    return [*results, *copies]


def _kernel_invariants(kernel: str, actual: list[Any], args: tuple[Any, ...], where: str) -> None:
    result = actual[0]
    if isinstance(result, np.ndarray):
        dtype = next(a.dtype for a in args if isinstance(a, np.ndarray))
        if result.dtype != dtype or not np.all(np.isfinite(result)):
            raise Failed(f"{kernel} ({where}) returned non-finite values or dtype {result.dtype}")
    if kernel == "softmax" and not np.allclose(result.sum(axis=1), 1, rtol=1e-5):
        raise Failed(f"softmax ({where}): rows do not sum to 1")
    if kernel == "cross_entropy" and not np.isfinite(result):
        raise Failed(f"cross_entropy ({where}) returned {result}")
