"""Model files: round trips, damaged and foreign files, missing plugins, and atomic saves."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import struct
import threading
import types
import zipfile

import numpy as np
import pytest

import nnplug
from nnplug import atomic_files, checked_build, errors, modules, plugins, serialization
from nnplug.errors import ModelFileError
from nnplug.plugins import PluginInfo
from nnplug.spec import SpecError


class Cube(modules.Module):
    """A plugin layer: ``x ** 3 * scale`` with a learnable scale."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = np.array([scale], dtype=np.float32)

    def forward(self, inputs):
        return np.asarray(inputs, dtype=np.float32) ** 3 * self.scale

    def parameters(self):
        return [self.scale]


@pytest.fixture
def model():
    nnplug.seed(0)
    return nnplug.build(
        {
            "type": "sequential",
            "layers": [
                {"type": "linear", "input_size": 4, "output_size": 3},
                {"type": "tanh"},
                {"type": "linear", "input_size": 3, "output_size": 2},
                {"type": "softmax"},
            ],
        }
    )


@pytest.fixture
def saved(tmp_path, model):
    """The path of ``model`` saved, and the file's bytes."""
    path = tmp_path / "model.nnp"
    nnplug.save(model, path)
    return path, path.read_bytes()


def craft(path, header: object, payload: bytes = b"", version: int = 1) -> None:
    """Write a file with a valid checksum around any header: what a deliberate forger makes."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    body = serialization.MAGIC + struct.pack("<IQQ", version, len(raw), len(payload)) + raw
    body += payload
    path.write_bytes(body + hashlib.sha256(body).digest())


def header_of(data: bytes) -> dict:
    start = len(serialization.MAGIC) + 20
    length = struct.unpack_from("<Q", data, len(serialization.MAGIC) + 4)[0]
    return json.loads(data[start : start + length])


# --- round trips -------------------------------------------------------------------------------


def test_a_saved_model_loads_back_equal(saved, model):
    path, _ = saved
    loaded = nnplug.load(path)
    assert nnplug.spec_of(loaded) == nnplug.spec_of(model)
    for param, restored in zip(model.parameters(), loaded.parameters(), strict=True):
        assert restored.dtype == param.dtype
        np.testing.assert_array_equal(restored, param)
    x = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_float64_models_and_parameterless_models_round_trip(tmp_path):
    wide = modules.Linear(3, 2, dtype="float64")
    nnplug.save(wide, tmp_path / "wide.nnp")
    assert nnplug.load(tmp_path / "wide.nnp").weights.dtype == np.float64
    np.testing.assert_array_equal(nnplug.load(tmp_path / "wide.nnp").weights, wide.weights)
    nnplug.save(modules.Tanh(), tmp_path / "tanh.nnp")
    assert isinstance(nnplug.load(tmp_path / "tanh.nnp"), modules.Tanh)


def test_the_file_records_spec_plugins_and_array_layout(saved, model):
    _, data = saved
    assert data.startswith(serialization.MAGIC)
    header = header_of(data)
    assert header["spec"] == nnplug.spec_of(model)
    assert header["arrays"] == [
        {"dtype": "<f4", "shape": [3, 4]},
        {"dtype": "<f4", "shape": [3]},
        {"dtype": "<f4", "shape": [2, 3]},
        {"dtype": "<f4", "shape": [2]},
    ]
    linear = next(c for c in header["components"] if c["name"] == "linear")
    assert linear["plugin"] == "nnplug.default_plugins.layers"
    assert linear["distribution"] == "nnplug"


def test_saving_twice_gives_identical_bytes(saved, model):
    path, data = saved
    nnplug.save(model, path)
    assert path.read_bytes() == data


def test_save_refuses_an_unregistered_layer_and_writes_nothing(tmp_path):
    with pytest.raises(SpecError, match="not a registered layer"):
        nnplug.save(Cube(), tmp_path / "cube.nnp")
    assert list(tmp_path.iterdir()) == []


# --- damaged and foreign files -----------------------------------------------------------------


@pytest.mark.parametrize("keep", [3, 12, 30, 100, -40, -1])
def test_truncated_files_are_rejected(tmp_path, saved, keep):
    _, data = saved
    path = tmp_path / "cut.nnp"
    path.write_bytes(data[:keep])
    with pytest.raises(ModelFileError, match="the file is truncated"):
        nnplug.load(path)


@pytest.mark.parametrize("where", ["header", "payload", "checksum"])
def test_modified_files_are_rejected(tmp_path, saved, where):
    _, data = saved
    header_start = len(serialization.MAGIC) + 20
    offsets = {"header": header_start + 5, "payload": len(data) - 40, "checksum": len(data) - 1}
    damaged = bytearray(data)
    damaged[offsets[where]] ^= 0x01
    path = tmp_path / "damaged.nnp"
    path.write_bytes(bytes(damaged))
    with pytest.raises(ModelFileError, match="SHA-256 checksum does not match"):
        nnplug.load(path)


def test_extra_bytes_at_the_end_are_rejected(tmp_path, saved):
    _, data = saved
    path = tmp_path / "long.nnp"
    path.write_bytes(data + b"\0\0")
    with pytest.raises(ModelFileError, match="2 unexpected bytes after the end"):
        nnplug.load(path)


def foreign_zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("header.json", "{}")


def foreign_npy(path):
    with path.open("wb") as file:
        np.save(file, np.zeros(3))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p.write_bytes(b""), "the file is empty, not an nnplug model"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64)), "not an nnplug model file"),
        (foreign_zip, r"not an nnplug model file \(it starts with b'PK"),
        (foreign_npy, "not an nnplug model file"),
        (lambda p: p.write_text('{"spec": {"type": "tanh"}}'), "not an nnplug model file"),
    ],
    ids=["empty", "png", "zip", "npy", "json"],
)
def test_foreign_files_are_rejected(tmp_path, make, match):
    path = tmp_path / "foreign.nnp"
    make(path)
    with pytest.raises(ModelFileError, match=match):
        nnplug.load(path)


def test_a_missing_file_or_a_directory_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read the model file"):
        nnplug.load(tmp_path / "absent.nnp")
    with pytest.raises(ModelFileError, match="must be a regular file, got a directory"):
        nnplug.load(tmp_path)


def test_a_newer_format_version_is_rejected(tmp_path):
    path = tmp_path / "future.nnp"
    craft(path, {"spec": {"type": "tanh"}, "components": [], "arrays": []}, version=2)
    with pytest.raises(ModelFileError, match="format 2, but this nnplug reads format 1 .*newer"):
        nnplug.load(path)


GOOD_SPEC = {"type": "linear", "input_size": 2, "output_size": 1}


@pytest.mark.parametrize(
    ("header", "payload", "match"),
    [
        (b"\xff\xfe not json", b"", "malformed model header"),
        ([1, 2], b"", "malformed model header: expected a JSON object"),
        ({"spec": GOOD_SPEC, "components": []}, b"", "'arrays' must be a JSON list"),
        (
            {"spec": GOOD_SPEC, "components": [], "arrays": [{"dtype": "|O", "shape": [1]}]},
            bytes(8),
            r"arrays\[0\] has dtype '\|O', not a numeric dtype",
        ),
        (
            {"spec": GOOD_SPEC, "components": [], "arrays": [{"dtype": "<f4", "shape": [-1]}]},
            b"",
            r"arrays\[0\] has shape \[-1\]",
        ),
        (
            {"spec": GOOD_SPEC, "components": [], "arrays": [{"dtype": "<f4", "shape": [2]}]},
            bytes(8),
            r"parameter 0 of Linear at spec is float32\[1, 2\] by the spec, but arrays\[0\] in "
            r"the file is float32\[2\]",
        ),
        (
            {
                "spec": GOOD_SPEC,
                "components": [],
                "arrays": [{"dtype": "<f4", "shape": [2, 1]}, {"dtype": "<f4", "shape": [1]}],
            },
            bytes(12),
            r"parameter 0 of Linear at spec is float32\[1, 2\] by the spec, "
            r"but arrays\[0\] in the file is float32\[2, 1\]",
        ),
        (
            {
                "spec": GOOD_SPEC,
                "components": [],
                "arrays": [{"dtype": "<f4", "shape": [1, 2]}, {"dtype": "<f4", "shape": [1]}],
            },
            bytes(16),
            "the header's arrays take 12 bytes, but the file holds 16 bytes of parameters",
        ),
        (
            {"spec": {"type": "linear", "input_size": 2}, "components": [], "arrays": []},
            b"",
            "cannot be rebuilt with the components installed here: .*'output_size'",
        ),
        (
            {"spec": {**GOOD_SPEC, "input_size": 2**40}, "components": [], "arrays": []},
            b"",
            r"parameter 0 of Linear at spec is float32\[1, 1099511627776\], but the file "
            "holds only 0 arrays",
        ),
    ],
    ids=[
        "not-json",
        "not-object",
        "no-arrays",
        "object-dtype",
        "negative-size",
        "array-count",
        "array-shape",
        "payload-size",
        "bad-spec",
        "huge-spec",
    ],
)
def test_forged_headers_are_rejected_without_running_anything(tmp_path, header, payload, match):
    path = tmp_path / "forged.nnp"
    craft(path, header, payload)
    with pytest.raises(ModelFileError, match=match):
        nnplug.load(path)


# --- missing plugins ----------------------------------------------------------------------------


def test_a_model_whose_plugin_is_missing_says_which_plugin_provided_it(tmp_path):
    plugin = types.SimpleNamespace(nnplug_layers=nnplug.hookimpl(lambda: {"cube": Cube}))
    info = PluginInfo("cube", "nnplug-cube", "2.0", "nnplug_cube")
    plugins.host().register(plugin, "cube", info)
    try:
        model = nnplug.build({"type": "sequential", "layers": [{"type": "tanh"}, {"type": "cube"}]})
        nnplug.save(model, tmp_path / "cube.nnp")
        assert isinstance(nnplug.load(tmp_path / "cube.nnp")[1], Cube)
    finally:
        nnplug.unregister_plugin("cube")
    with pytest.raises(errors.UnknownLayerError) as caught:
        nnplug.load(tmp_path / "cube.nnp")
    message = str(caught.value)
    assert message.startswith(
        f"{tmp_path / 'cube.nnp'}: the model needs layer 'cube' (at spec.layers[1]), which is "
        "not installed; it was provided by plugin 'cube' (nnplug-cube 2.0) when saved. "
        "Installed layers: conv2d, dropout, flatten, linear, maxpool2d, relu, reshape, "
        "sequential, "
    )


# --- atomic saves -------------------------------------------------------------------------------


def write_then_fail(after: int, error: BaseException):
    """A replacement for the file writer that writes ``after`` bytes, then raises ``error``."""
    real_write = serialization._HashingWriter.write

    def write(self, data: bytes) -> None:
        written = getattr(self, "written", 0)
        if written + len(data) > after:
            real_write(self, data[: after - written])
            raise error
        self.written = written + len(data)
        real_write(self, data)

    return write


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
    ids=["disk-full", "interrupted"],
)
def test_a_save_that_fails_midway_leaves_the_old_file_and_no_temporary(monkeypatch, saved, error):
    path, data = saved
    monkeypatch.setattr(serialization._HashingWriter, "write", write_then_fail(100, error))
    with pytest.raises(type(error)):
        nnplug.save(modules.Linear(4, 3), path)
    assert path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_save_that_fails_to_sync_or_rename_leaves_the_old_file(monkeypatch, saved, step):
    path, data = saved

    def fail(*args, **kwargs):
        raise OSError(errno.EIO, f"{step} failed")

    monkeypatch.setattr(serialization.os, step, fail)
    with pytest.raises(OSError, match=f"{step} failed"):
        nnplug.save(modules.Linear(4, 3), path)
    monkeypatch.undo()
    assert path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    nnplug.load(path)


def test_a_first_save_that_fails_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(
        serialization._HashingWriter, "write", write_then_fail(10, OSError(errno.ENOSPC, "full"))
    )
    with pytest.raises(OSError):
        nnplug.save(modules.Tanh(), tmp_path / "new.nnp")
    assert list(tmp_path.iterdir()) == []


def test_saved_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        nnplug.save(modules.Tanh(), tmp_path / "tanh.nnp")
    finally:
        os.umask(umask)
    assert (tmp_path / "tanh.nnp").stat().st_mode & 0o777 == 0o644


# --- issue 13: providers, names, syncing, non-finite weights, the random stream ------------------


class OtherCube(Cube):
    """Another plugin's layer under the same name, computing something else."""

    def forward(self, inputs):
        return -super().forward(inputs)


def test_a_layer_from_another_plugin_than_at_save_is_refused_naming_both(tmp_path):
    first = types.SimpleNamespace(nnplug_layers=nnplug.hookimpl(lambda: {"cube": Cube}))
    second = types.SimpleNamespace(nnplug_layers=nnplug.hookimpl(lambda: {"cube": OtherCube}))
    host = plugins.host()
    host.register(first, "cube_a", PluginInfo("cube_a", "nnplug-cube-a", "1.0", None))
    path = tmp_path / "cube.nnp"
    try:
        nnplug.save(Cube(2.0), path)
    finally:
        host.unregister("cube_a")
    host.register(second, "cube_b", PluginInfo("cube_b", "nnplug-cube-b", "3.0", None))
    try:
        with pytest.raises(ModelFileError) as caught:
            nnplug.load(path)
        message = str(caught.value)
        assert "plugin 'cube_a' (nnplug-cube-a 1.0)" in message
        assert "plugin 'cube_b' (nnplug-cube-b 3.0)" in message
        assert "allow_other_plugins=True" in message
        loaded = nnplug.load(path, allow_other_plugins=True)
        assert type(loaded) is OtherCube and loaded.scale[0] == 2.0
    finally:
        host.unregister("cube_b")


def test_loading_does_not_touch_nnplugs_random_stream(saved):
    path, _ = saved
    nnplug.seed(5)
    expected = nnplug.rng.generator().random()
    nnplug.seed(5)
    nnplug.load(path)
    assert nnplug.rng.generator().random() == expected


@pytest.mark.parametrize("length", [238, 250, 255])
def test_a_long_legal_file_name_saves(tmp_path, model, length):
    path = tmp_path / ("m" * (length - 4) + ".nnp")
    nnplug.save(model, path)
    np.testing.assert_array_equal(nnplug.load(path).parameters()[0], model.parameters()[0])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_failed_directory_sync_after_the_rename_is_a_warning(tmp_path, model, monkeypatch):
    def refuse(directory):
        raise PermissionError(errno.EACCES, "Permission denied", str(directory))

    monkeypatch.setattr(atomic_files, "sync_directory", refuse)
    path = tmp_path / "model.nnp"
    with pytest.warns(RuntimeWarning, match="saved .*model.nnp, but could not sync its directory"):
        nnplug.save(model, path)
    assert nnplug.load(path) is not None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_saving_into_a_writable_but_unreadable_directory_works(tmp_path, model):
    directory = tmp_path / "dropbox"
    directory.mkdir(mode=0o300)
    try:
        with pytest.warns(RuntimeWarning, match="could not sync its directory"):
            nnplug.save(model, directory / "model.nnp")
    finally:
        directory.chmod(0o700)
    assert (directory / "model.nnp").exists()


def test_nan_weights_are_refused_unless_allowed(tmp_path, model):
    model.parameters()[1][0] = np.inf
    with pytest.raises(
        errors.NonFiniteModelError, match=r"parameter 1 of Linear at spec.layers\[0\]"
    ):
        nnplug.save(model, tmp_path / "nan.nnp")
    assert not list(tmp_path.iterdir())
    nnplug.save(model, tmp_path / "nan.nnp", allow_nonfinite=True)
    assert np.isinf(nnplug.load(tmp_path / "nan.nnp").parameters()[1][0])


def test_a_plugin_layer_is_checked_right_after_it_is_built(tmp_path):
    plugin = types.SimpleNamespace(nnplug_layers=nnplug.hookimpl(lambda: {"cube": Cube}))
    plugins.host().register(plugin, "cube", PluginInfo("cube", "nnplug-cube", "1.0", None))
    try:
        path = tmp_path / "m.nnp"
        nnplug.save(nnplug.modules.Sequential([Cube(), nnplug.modules.Linear(2, 2)]), path)
        data = bytearray(path.read_bytes())
        header_length = struct.unpack_from("<Q", data, 12)[0]
        header = json.loads(data[28 : 28 + header_length])
        header["spec"]["layers"][1]["input_size"] = 20000
        forged = json.dumps(header).encode()
        body = bytes(data[:12]) + struct.pack("<QQ", len(forged), len(data) - 60 - header_length)
        body += forged + bytes(data[28 + header_length : -32])
        path.write_bytes(body + hashlib.sha256(body).digest())
        with pytest.raises(ModelFileError, match=r"spec.layers\[1\] is float32\[2, 20000\]"):
            nnplug.load(path)
    finally:
        plugins.host().unregister("cube")


def test_loading_in_one_thread_leaves_another_threads_draws_random(saved):
    """Loading gives layers zeros in place of random weights in its own thread only."""
    path, _ = saved
    inside, release = threading.Event(), threading.Event()
    original = checked_build.zero_initialisation

    @contextlib.contextmanager
    def held(arrays):
        with original(arrays):
            inside.set()
            release.wait(10)
            yield

    loader = threading.Thread(target=nnplug.load, args=(path,))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checked_build, "zero_initialisation", held)
        loader.start()
        try:
            assert inside.wait(10)
            layer = modules.Linear(8, 8)
        finally:
            release.set()
            loader.join(10)
    assert np.count_nonzero(layer.weights) == layer.weights.size
