"""Shared test options and fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import nnplug

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run the slow end-to-end tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def backend_names() -> list[str]:
    """Every registered backend, so that each test runs on all of them."""
    return sorted(nnplug.registry.backends)


@pytest.fixture(autouse=True)
def restore_global_settings():
    """Undo what a test (the CLI's --backend, say) changed in nnplug's process-wide settings."""
    backend, threads = nnplug.current_backend(), nnplug.get_num_threads()
    yield
    nnplug.set_backend(backend)
    nnplug.set_num_threads(threads)


@pytest.fixture(params=backend_names())
def backend(request: pytest.FixtureRequest):
    """Run the test with each registered backend in turn."""
    with nnplug.use_backend(request.param) as selected:
        yield selected


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST files: $NNPLUG_DATA_DIR if set, else ../shared/mnist; skip if absent."""
    directory = Path(os.environ.get("NNPLUG_DATA_DIR") or SHARED_MNIST)
    if not (directory / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST files not found in {directory}")
    return directory
