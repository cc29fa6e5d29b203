"""The ``nnplug`` command line, end to end on small data."""

import numpy as np
import pytest

import nnplug
from nnplug import cli
from nnplug.cli import data
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

    monkeypatch.setitem(data.LOADERS, "mnist", download)
    monkeypatch.setitem(data.LOADERS, "fashion-mnist", download)
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

    monkeypatch.setitem(data.LOADERS, "mnist", offline)
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


@pytest.fixture
def saved_model(small_mnist, tmp_path, capsys):
    path = tmp_path / "model.nnp"
    argv = ["train", "mnist", "--epochs", "2", "--batch-size", "16", "--no-progress"]
    assert cli.main([*argv, "--save", str(path)]) == 0
    assert f"saved the model to {path}" in capsys.readouterr().out
    return path


def test_saved_model_is_evaluated_with_a_confusion_matrix(saved_model, capsys):
    assert cli.main(["evaluate", str(saved_model)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("true \\ predicted") and len(out) == 13
    rows = [list(map(int, line.split()[1:11])) for line in out[2:12]]
    assert sum(map(sum, rows)) == 100
    assert out[-1].startswith("test accuracy: ")


def test_predict_reads_pngs_dataset_indices_and_idx_files(saved_model, tmp_path, capsys):
    from PIL import Image

    images = fake_mnist()[2]
    Image.fromarray(images[0]).save(tmp_path / "digit.png")
    Image.fromarray(255 - images[0]).save(tmp_path / "dark.png")
    idx = tmp_path / "images.idx"
    idx.write_bytes(
        b"\x00\x00\x08\x03"
        + (3).to_bytes(4, "big")
        + (28).to_bytes(4, "big") * 2
        + images[:3].tobytes()
    )
    assert (
        cli.main(
            [
                "predict",
                str(saved_model),
                "--no-preprocess",
                str(tmp_path / "digit.png"),
                "test:0",
                f"{idx}:0",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    classes = {line.rsplit(": ", 1)[1].split()[0] for line in lines}
    assert len(lines) == 3 and len(classes) == 1
    argv = ["predict", str(saved_model), "--no-preprocess", "--invert", str(tmp_path / "dark.png")]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.split(": ")[1].split()[0] in classes


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("test:100", "index 100 is out of range"),
        ("picture.jpg", "picture.jpg: cannot read the image: No such file or directory"),
    ],
)
def test_predict_rejects_bad_image_names(saved_model, capsys, image, message):
    assert cli.main(["predict", str(saved_model), image]) == 2
    assert message in capsys.readouterr().err


def test_training_a_model_from_a_spec_file(small_mnist, tmp_path, capsys):
    spec = tmp_path / "model.json"
    spec.write_text(
        '{"type": "sequential", "layers": [{"type": "linear", "input_size": 784, '
        '"output_size": 10}, {"type": "softmax"}]}'
    )
    argv = ["train", "mnist", "--epochs", "1", "--no-progress", "--model", str(spec)]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("test accuracy: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"type": "linear", "input_size": 784, "output_size": 3}', "10 class probabilities"),
        ('{"type": "linear", "input_size": 5, "output_size": 10}', "784-pixel images"),
    ],
)
def test_bad_spec_files_are_clean_errors(small_mnist, tmp_path, capsys, text, message):
    spec = tmp_path / "model.json"
    spec.write_text(text)
    assert cli.main(["train", "mnist", "--model", str(spec), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_plot_writes_a_png(small_mnist, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    SIGNATURE = b"\x89PNG\r\n\x1a\n"

    plot = tmp_path / "run.png"
    assert cli.main(["train", "mnist", "--epochs", "1", "--no-progress", "--plot", str(plot)]) == 0
    assert plot.read_bytes().startswith(SIGNATURE)


def test_plot_without_matplotlib_says_how_to_install_it(small_mnist, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert cli.main(["train", "mnist", "--plot", "x.png", "--no-progress"]) == 2
    assert 'pip install "nnplug[plot]"' in capsys.readouterr().err


def test_fashion_mnist_job(small_mnist, capsys):
    assert cli.main(["train", "fashion-mnist", "--epochs", "1", "--no-progress"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("test accuracy: ")


def test_missing_model_file_is_a_clean_error(tmp_path, capsys):
    assert cli.main(["evaluate", str(tmp_path / "none.nnp")]) == 2
    assert "none.nnp" in capsys.readouterr().err
