"""The main job, end to end on the real MNIST: ``nnplug train mnist`` with its defaults."""

import re

import pytest

from nnplug import cli


@pytest.mark.slow
@pytest.mark.mnist
def test_train_mnist_with_defaults_reaches_97_5_percent(mnist_dir, tmp_path, capsys):
    model = tmp_path / "mnist.nnp"
    argv = ["train", "mnist", "--data-dir", str(mnist_dir), "--no-progress", "--save", str(model)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    final = re.fullmatch(r"test accuracy: (\d+\.\d\d)%", out[-1])
    assert final is not None and float(final[1]) >= 97.5
    assert cli.main(["evaluate", str(model), "--data-dir", str(mnist_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == out[-1]
