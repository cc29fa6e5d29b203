"""The CNN recipe, end to end on the real MNIST: ``nnplug train mnist --arch cnn``."""

import re

import pytest

from nnplug import cli


@pytest.mark.slow
@pytest.mark.mnist
def test_train_mnist_cnn_with_defaults_reaches_99_2_percent(mnist_dir, tmp_path, capsys):
    model = tmp_path / "cnn.nnp"
    argv = ["train", "mnist", "--arch", "cnn", "--data-dir", str(mnist_dir), "--no-progress"]
    assert cli.main([*argv, "--save", str(model)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("training 60000 images, 5 epochs, batch 64, adam")
    final = re.fullmatch(r"test accuracy: (\d+\.\d\d)%", out[-1])
    assert final is not None and float(final[1]) >= 99.2
    assert cli.main(["evaluate", str(model), "--data-dir", str(mnist_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == out[-1]
