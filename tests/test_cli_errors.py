"""The command line never shows a traceback: every error is one line and an exit status."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
import test_cli
from PIL import Image

import nnplug
from nnplug import cli, optimizers, recipes
from nnplug.cli import data

TRAIN = ["train", "mnist", "--epochs", "1", "--no-progress"]
fake_mnist = test_cli.fake_mnist
small_mnist = test_cli.small_mnist  # fixtures shared with the CLI's own tests
saved_model = test_cli.saved_model


def one_line_error(capsys, status: int, expected_status: int, text: str) -> str:
    """Assert the command failed with ``expected_status`` and one stderr line holding ``text``."""
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert status == expected_status, err
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("nnplug") and text in err, err
    return captured.out


def test_a_save_path_in_a_missing_directory_fails_before_training(small_mnist, tmp_path, capsys):
    status = cli.main([*TRAIN, "--save", str(tmp_path / "missing" / "m.nnp")])
    out = one_line_error(capsys, status, 2, "does not exist")
    assert out == "" and small_mnist == []  # nothing loaded, nothing trained


@pytest.mark.parametrize("option", ["--save", "--plot"])
def test_a_directory_as_an_output_fails_before_training(small_mnist, tmp_path, capsys, option):
    out = one_line_error(capsys, cli.main([*TRAIN, option, str(tmp_path)]), 2, "is a directory")
    assert out == "" and small_mnist == []


def _png_bytes() -> bytes:
    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(29 * 28)))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


BAD_IMAGES = {
    "bad CRC": (lambda: _png_bytes()[:29] + b"\0" + _png_bytes()[30:], "corrupt or unsupported"),
    "truncated": (lambda: _png_bytes()[:50], "corrupt or unsupported"),
    "JPEG named .png": (lambda: b"\xff\xd8\xff\xe0" + bytes(30), "digit.png"),
    "empty": (lambda: b"", "not an image file"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_image_files_are_one_line_errors(saved_model, tmp_path, capsys, case):
    make, text = BAD_IMAGES[case]
    (tmp_path / "digit.png").write_bytes(make())
    capsys.readouterr()
    status = cli.main(["predict", str(saved_model), str(tmp_path / "digit.png")])
    one_line_error(capsys, status, 2, text)


@pytest.mark.parametrize("target", ["absent.png", "."], ids=["missing", "directory"])
def test_a_missing_image_or_a_directory_is_a_one_line_error(
    saved_model,
    tmp_path,
    capsys,
    target,
):
    capsys.readouterr()
    status = cli.main(["predict", str(saved_model), str(tmp_path / target)])
    one_line_error(capsys, status, 2, "image")


@pytest.mark.parametrize("mode", ["P", "I;16", "RGBA"])
def test_palette_16_bit_and_alpha_images_are_read(saved_model, tmp_path, capsys, mode):
    grey = fake_mnist()[2][0]
    image = (
        Image.fromarray(grey.astype(np.uint16) * 257)
        if mode == "I;16"
        else Image.fromarray(grey).convert(mode)
    )
    image.save(tmp_path / "digit.png")
    capsys.readouterr()
    assert (
        cli.main(["predict", str(saved_model), "--no-preprocess", str(tmp_path / "digit.png")]) == 0
    )
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'digit.png'}: ")


@pytest.mark.parametrize("value", ["garbage", "99999999999", "0"])
def test_bad_thread_counts_are_one_line_errors(small_mnist, monkeypatch, capsys, value):
    monkeypatch.setenv("NNPLUG_NUM_THREADS", value)
    monkeypatch.setattr(nnplug.threads, "_threads", None)
    status = cli.main([*TRAIN, "--backend", "c" if "c" in nnplug.registry.backends else "numpy"])
    if "c" in nnplug.registry.backends:
        one_line_error(capsys, status, 2, "NNPLUG_NUM_THREADS must be a whole number from 1 to 256")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        (
            '{"type": "linear", "input_size": ' + "9" * 5000 + "}",
            "not valid JSON: Exceeds the limit",
        ),
        (json.dumps({"type": "linear", "input_size": 10**12, "output_size": 10}), ""),
        ("[1, 2]", "expected a JSON object"),
    ],
    ids=["deep", "huge-integer", "huge-layer", "not-an-object"],
)
def test_hostile_model_specs_are_one_line_errors(small_mnist, tmp_path, capsys, text, message):
    (tmp_path / "spec.json").write_text(text)
    status = cli.main([*TRAIN, "--model", str(tmp_path / "spec.json")])
    captured = capsys.readouterr()
    assert status in (1, 2) and "\n" not in captured.err.strip() and message in captured.err


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        (lambda f: (f[0][:0], f[1][:0], f[2], f[3]), "the dataset has no training images"),
        (
            lambda f: (np.zeros((5, 29, 29), np.uint8), f[1][:5], f[2], f[3]),
            "expected 28x28 training images, got shape (29, 29)",
        ),
    ],
    ids=["no-training-images", "29x29"],
)
def test_unusable_datasets_are_one_line_errors(monkeypatch, capsys, splits, message):
    monkeypatch.setitem(
        data.LOADERS, "mnist", lambda d=None, *, progress=True: splits(fake_mnist())
    )
    one_line_error(capsys, cli.main(TRAIN), 2, message)


def test_a_model_header_integer_of_5000_digits_is_a_model_file_error(tmp_path, capsys):
    from nnplug import serialization

    raw = b'{"spec": ' + b"9" * 5000 + b"}"
    body = serialization.MAGIC + struct.pack("<IQQ", 1, len(raw), 0) + raw
    import hashlib

    (tmp_path / "m.nnp").write_bytes(body + hashlib.sha256(body).digest())
    status = cli.main(["evaluate", str(tmp_path / "m.nnp")])
    one_line_error(capsys, status, 2, "malformed model header: Exceeds the limit")


def test_a_nan_model_refuses_to_predict(saved_model, tmp_path, capsys):
    model = nnplug.load(saved_model)
    model.parameters()[0][:] = np.nan
    nnplug.save(model, tmp_path / "nan.nnp", allow_nonfinite=True)
    capsys.readouterr()
    status = cli.main(["predict", str(tmp_path / "nan.nnp"), "test:0"])
    one_line_error(capsys, status, 1, "refusing to predict with a model")


def test_probabilities_are_shown_only_for_models_ending_in_softmax(small_mnist, tmp_path, capsys):
    nnplug.seed(0)
    logits = nnplug.modules.Sequential([nnplug.modules.Linear(784, 10)])
    nnplug.save(logits, tmp_path / "logits.nnp")
    assert cli.main(["predict", str(tmp_path / "logits.nnp"), "test:0"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("test:0: ") and "%" not in line


def test_nnplug_debug_shows_the_traceback(small_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("NNPLUG_DEBUG", "1")
    with pytest.raises(nnplug.errors.OutputPathError):
        cli.main([*TRAIN, "--save", str(tmp_path / "missing" / "m.nnp")])


def test_an_unexpected_error_is_one_line_pointing_at_nnplug_debug(small_mnist, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("a plugin bug")

    monkeypatch.setattr(recipes, "train_mnist", broken)
    status = cli.main(TRAIN)
    one_line_error(capsys, status, 1, "unexpected RuntimeError: a plugin bug (set NNPLUG_DEBUG=1")


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "mnist", "--epochs", "zero"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--epochs: must be a positive integer" in err and "--help" in err


# --- optimizers on the command line -------------------------------------------------------------


class Lion(optimizers.SGD):
    """A plugin optimizer, to show that --help lists what is registered."""


def test_optimizer_help_lists_the_registered_optimizers(capsys):
    plugin = type(
        "P", (), {"nnplug_optimizers": staticmethod(nnplug.hookimpl(lambda: {"lion": Lion}))}
    )
    nnplug.register_plugin(plugin, "lion")
    try:
        with pytest.raises(SystemExit):
            cli.main(["train", "mnist", "--help"])
        names = list(nnplug.registry.optimizers)
    finally:
        nnplug.unregister_plugin("lion")
    out = " ".join(capsys.readouterr().out.split())
    assert "lion" in names and f"a registered optimizer: {', '.join(names)} " in out
    assert "learning_rate attribute" in out  # the schedule's contract


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        ([], "sgd lr 0.05"),  # the recipe's tuned rate for its own optimizer
        (["--optimizer", "adam"], "adam lr 0.001"),  # Adam's own default
        (["--optimizer", "adam", "--learning-rate", "0.003"], "adam lr 0.003"),
    ],
)
def test_each_optimizer_gets_its_own_default_learning_rate(small_mnist, capsys, argv, shown):
    assert cli.main([*TRAIN, "--limit", "20", *argv]) == 0
    assert shown in capsys.readouterr().out.splitlines()[0]


def test_optimizer_arguments_reach_the_optimizer(small_mnist, monkeypatch, capsys):
    seen = {}
    real = recipes.make_optimizer

    def spy(name, model, recipe):
        optimizer = real(name, model, recipe)
        seen.update(vars(optimizer))
        return optimizer

    monkeypatch.setattr(recipes, "make_optimizer", spy)
    argv = [*TRAIN, "--limit", "20", "--optimizer", "adam", "--optimizer-arg", "beta1=0.8"]
    assert cli.main(argv) == 0
    assert seen["beta1"] == 0.8


@pytest.mark.parametrize(
    ("argument", "status", "message"),
    [
        ("bogus=1", 2, "got an unexpected keyword argument 'bogus'"),
        ("beta1=2", 2, "beta1"),
        ("novalue", 2, "expected NAME=VALUE"),
    ],
)
def test_bad_optimizer_arguments_fail_before_training(
    small_mnist, capsys, argument, status, message
):
    try:
        code = cli.main([*TRAIN, "--optimizer", "adam", "--optimizer-arg", argument])
    except SystemExit as exit_info:  # argparse's own usage error
        code = exit_info.code
    out = one_line_error(capsys, code, status, message)
    assert "epoch" not in out and small_mnist == []


def test_rmsprop_with_its_decay_from_the_command_line(small_mnist, monkeypatch, capsys):
    if "rmsprop" not in nnplug.registry.optimizers:
        pytest.skip("no rmsprop optimizer registered in this build")
    seen = {}
    real = recipes.make_optimizer

    def spy(name, model, recipe):
        optimizer = real(name, model, recipe)
        seen.update(vars(optimizer))
        return optimizer

    monkeypatch.setattr(recipes, "make_optimizer", spy)
    argv = [*TRAIN, "--limit", "20", "--optimizer", "rmsprop", "--optimizer-arg", "decay=0.95"]
    assert cli.main(argv) == 0
    assert seen["decay"] == 0.95
