"""The ``nnplug`` command line, end to end on small data."""

import numpy as np
import pytest

import nnplug
from nnplug import cli
from nnplug.cli import train as train_command
from nnplug.datasets import DatasetError


def fake_mnist(train: int = 300, test: int = 100):
    """Tiny, learnable stand-in for MNIST: each digit lights up its own block of pixels."""
    rng = np.random.default_rng(0)

    def split(n):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label : 2 * label + 3, 5:20] = 255
        return images, labels

    return (*split(train), *split(test))


@pytest.fixture
def small_mnist(monkeypatch):
    calls = []

    def download(data_dir=None, *, progress=True):
        calls.append(data_dir)
        return fake_mnist()

    monkeypatch.setattr(train_command, "download_mnist", download)
    return calls


def test_train_xor(capsys):
    assert cli.main(["train", "xor", "--backend", "numpy"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "xor: 4/4 correct"


def test_train_mnist_ends_with_the_accuracy_line(small_mnist, capsys):
    status = cli.main(
        [
            "train",
            "mnist",
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--no-progress",
            "--data-dir",
            "somewhere",
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert small_mnist == ["somewhere"]
    assert out[0].startswith("training 300 images, 3 epochs, batch 16, sgd lr 0.05")
    assert [line.split(":")[0] for line in out[1:4]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert out[-1].startswith("test accuracy: ") and out[-1].endswith("%")
    assert float(out[-1].split()[-1].rstrip("%")) > 90


def test_train_mnist_with_adam_and_a_limit(small_mnist, capsys):
    assert (
        cli.main(
            [
                "train",
                "mnist",
                "--epochs",
                "1",
                "--optimizer",
                "adam",
                "--learning-rate",
                "0.001",
                "--limit",
                "50",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "training 50 images" in capsys.readouterr().out


def test_unknown_backend_is_reported_with_the_choices(capsys):
    assert cli.main(["train", "xor", "--backend", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no backend named 'cuda'" in err and "numpy" in err


def test_unknown_optimizer_suggests_a_close_name(small_mnist, capsys):
    assert cli.main(["train", "mnist", "--optimizer", "adma", "--no-progress"]) == 2
    assert "Did you mean 'adam'" in capsys.readouterr().err


def test_missing_dataset_is_a_clean_error(monkeypatch, capsys):
    def offline(data_dir=None, *, progress=True):
        raise DatasetError("MNIST is not available offline")

    monkeypatch.setattr(train_command, "download_mnist", offline)
    assert cli.main(["train", "mnist", "--no-progress"]) == 2
    assert "nnplug: error: MNIST is not available offline" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--learning-rate", "-1"]])
def test_bad_numbers_are_usage_errors(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "mnist", *bad])
    assert exit_info.value.code == 2
    assert "must be a positive" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"nnplug {nnplug.__version__}"
