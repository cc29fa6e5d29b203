"""The article's own programs run with only their imports changed."""

import runpy
from pathlib import Path

import numpy as np
import pytest

import nnplug

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_article_xor_program_learns_xor(capsys):
    nnplug.seed(0)
    runpy.run_path(str(EXAMPLES / "article_xor.py"), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1/1000 error=")
    outputs = [float(line.split("[[")[-1].removesuffix("]]")) for line in lines[-4:]]
    np.testing.assert_array_equal(np.array(outputs) > 0.5, [False, True, True, False])


def run_article_mnist(mnist_dir, monkeypatch, capsys) -> list[str]:
    monkeypatch.setenv("NNPLUG_DATA_DIR", str(mnist_dir))
    nnplug.seed(0)
    runpy.run_path(str(EXAMPLES / "article_mnist.py"), run_name="__main__")
    return capsys.readouterr().out.splitlines()


@pytest.mark.slow
@pytest.mark.mnist
def test_article_mnist_program_scores_at_least_75_percent(mnist_dir, monkeypatch, capsys):
    lines = run_article_mnist(mnist_dir, monkeypatch, capsys)
    assert lines[0].startswith("1/30 error=") and lines[29].startswith("30/30 error=")
    assert float(lines[-1].removeprefix("Score: ").rstrip("%")) >= 75


@pytest.mark.slow
@pytest.mark.mnist
def test_article_mnist_program_on_the_numpy_reference(mnist_dir, monkeypatch, capsys):
    with nnplug.use_backend("numpy"):
        lines = run_article_mnist(mnist_dir, monkeypatch, capsys)
    assert float(lines[-1].removeprefix("Score: ").rstrip("%")) >= 75
