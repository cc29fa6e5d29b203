"""Regressions of issue 13 whose failure was a blow-up or a hang, each run in a child
interpreter with a 1 GiB address-space limit and a timeout (see tests/limited.py)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from limited import run_limited

import nnplug
from nnplug import serialization

# --- forged files ------------------------------------------------------------------------------


def model_file(header: dict, payload: bytes = b"") -> bytes:
    """A model file with a correct checksum around any header: what a forger can make."""
    raw = json.dumps(header).encode()
    body = (
        serialization.MAGIC
        + struct.pack("<IQQ", serialization.FORMAT_VERSION, len(raw), len(payload))
        + raw
        + payload
    )
    return body + hashlib.sha256(body).digest()


BUILTIN = {"kind": "layer", "plugin": "nnplug.default_plugins.layers", "distribution": "nnplug"}
HUGE = {"type": "linear", "input_size": 20000, "output_size": 20000}


@pytest.mark.parametrize(
    ("arrays", "payload_length", "message"),
    [
        ([], 0, r"float32\[20000, 20000\], but the file holds only 0 arrays"),
        ([[1, 1], [1]], 8, r"by the spec, but arrays\[0\] in the file is float32\[1, 1\]"),
        ([[20000, 20000], [20000]], 0, "the header's arrays take 1600080000 bytes"),
    ],
    ids=["no-arrays", "small-arrays", "declared-but-absent"],
)
def test_a_forged_huge_layer_is_refused_without_allocating(
    tmp_path, arrays, payload_length, message
):
    header = {
        "spec": HUGE,
        "components": [{**BUILTIN, "name": "linear"}],
        "arrays": [{"dtype": "<f4", "shape": shape} for shape in arrays],
    }
    path = tmp_path / "forged.nnp"
    path.write_bytes(model_file(header, bytes(payload_length)))
    assert path.stat().st_size < 400
    result = run_limited(
        f"""
        import nnplug
        try:
            nnplug.load({str(path)!r})
        except nnplug.errors.ModelFileError as error:
            print(error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert any(__import__("re").search(message, line) for line in result.stdout.splitlines())


def test_a_forged_layer_after_a_genuine_one_is_refused_before_it_is_built(tmp_path):
    spec = {
        "type": "sequential",
        "layers": [{"type": "linear", "input_size": 2, "output_size": 2}, {"type": "tanh"}, HUGE],
    }
    header = {
        "spec": spec,
        "components": [{**BUILTIN, "name": n} for n in ("linear", "sequential", "tanh")],
        "arrays": [{"dtype": "<f4", "shape": s} for s in ([2, 2], [2])],
    }
    path = tmp_path / "forged.nnp"
    path.write_bytes(model_file(header, bytes(24)))
    result = run_limited(f"import nnplug; nnplug.load({str(path)!r})")
    assert "ModelFileError" in result.stderr
    assert r"parameter 0 of Linear at spec.layers[2] is float32[20000, 20000]" in result.stderr


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc")
def test_loading_costs_about_the_file_size(tmp_path):
    nnplug.seed(0)
    model = nnplug.build(
        {
            "type": "sequential",
            "layers": [
                {"type": "linear", "input_size": 784, "output_size": 1000},
                {"type": "tanh"},
                {"type": "linear", "input_size": 1000, "output_size": 1000},
                {"type": "tanh"},
                {"type": "linear", "input_size": 1000, "output_size": 10},
            ],
        }
    )
    path = tmp_path / "genuine.nnp"
    nnplug.save(model, path)
    size = path.stat().st_size
    result = run_limited(
        f"""
        import nnplug, numpy as np
        nnplug.registry.layers["linear"]
        np.zeros(16).sum()

        def status(field):
            with open("/proc/self/status") as file:
                line = next(line for line in file if line.startswith(field + ":"))
            return int(line.split()[1])

        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")  # reset the peak resident set to the current one
        before = status("VmRSS")
        model = nnplug.load({str(path)!r})
        after = status("VmHWM")
        print((after - before) * 1024, float(model.parameters()[0][0, 0]))
        """
    )
    assert result.returncode == 0, result.stderr
    grown, first = result.stdout.split()
    assert float(first) == float(model.parameters()[0][0, 0])
    # The weights are written once, straight from the file: no copy, no random draws.
    assert int(grown) <= 1.25 * size, f"loading {size} bytes grew the peak RSS by {grown}"


# --- images ------------------------------------------------------------------------------------


def png(width: int, height: int, rows: bytes, colour: int = 0, depth: int = 8) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = zlib.compress(rows, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("width", "height"), [(20000, 20000), (8000, 8000)])
def test_a_png_bomb_is_refused_from_its_header(tmp_path, width, height):
    path = tmp_path / "bomb.png"
    path.write_bytes(png(width, height, bytes(width + 1) * 64))
    result = run_limited(
        f"""
        import time
        from nnplug.images import read_image, ImageError
        started = time.perf_counter()
        try:
            read_image({str(path)!r})
        except ImageError as error:
            print(error)
        print(time.perf_counter() - started)
        """
    )
    assert result.returncode == 0, result.stderr
    message, seconds = result.stdout.splitlines()
    # Pillow's own guard answers first above 179 megapixels, nnplug's stricter one below.
    assert f"the image is {width}x{height} pixels, over the limit" in message or (
        "refused as a decompression bomb" in message
    )
    assert float(seconds) < 1


def test_a_large_photo_within_the_limit_is_preprocessed_in_bounded_memory(tmp_path):
    from PIL import Image

    pixels = np.full((6000, 6000), 230, dtype=np.uint8)
    pixels[1500:4500, 2800:3200] = 20  # a dark "1" on white paper
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    result = run_limited(
        f"""
        from nnplug.images import read_image
        from nnplug.preprocessing import mnist_digit
        digit = mnist_digit(read_image({str(tmp_path / "photo.png")!r}))
        print(digit.shape, digit[14, 14], digit[0, 0])
        """,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(28,", "28)", "255", "0"]


# --- IDX ---------------------------------------------------------------------------------------


def gzip_bomb(path, declared=(60000, 28, 28), gib=4) -> None:
    """A gzip file whose IDX header declares MNIST's size but which inflates to `gib` GiB."""
    header = b"\0\0\x08\x03" + struct.pack(">III", *declared)
    member = gzip.compress(bytes(64 << 20), compresslevel=9)  # gzip members concatenate
    with open(path, "wb") as file:
        file.write(gzip.compress(header))
        for _ in range(gib * 16):
            file.write(member)


def test_an_idx_gzip_bomb_is_refused_after_the_declared_size(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    gzip_bomb(path)
    assert path.stat().st_size < 8 << 20
    result = run_limited(
        f"""
        from nnplug.datasets import load_idx, DatasetError
        try:
            load_idx({str(path)!r})
        except DatasetError as error:
            print(error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "expected 47040000 bytes of data for (60000, 28, 28) uint8 values, found more" in (
        result.stdout
    )


def test_an_idx_header_declaring_more_than_the_gzip_can_hold_is_refused(tmp_path):
    path = tmp_path / "huge.gz"
    path.write_bytes(gzip.compress(b"\0\0\x08\x03" + struct.pack(">III", 60000, 280, 28)))
    result = run_limited(f"from nnplug.datasets import load_idx; load_idx({str(path)!r})")
    assert "more than a gzip file of" in result.stderr


# --- special files ------------------------------------------------------------------------------

READERS = {
    "model": "import nnplug; nnplug.load({path!r})",
    "image": "from nnplug.images import read_image; read_image({path!r})",
    "idx": "from nnplug.datasets import load_idx; load_idx({path!r})",
}


@pytest.mark.parametrize("reader", list(READERS))
def test_a_fifo_is_refused_without_blocking(tmp_path, reader):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run_limited(READERS[reader].format(path=str(fifo)))
    assert "must be a regular file, got a FIFO (named pipe)" in result.stderr


@pytest.mark.parametrize("reader", list(READERS))
def test_dev_zero_is_refused_without_reading_it(reader):
    result = run_limited(READERS[reader].format(path="/dev/zero"))
    assert "must be a regular file, got a character device" in result.stderr


# --- the command line on a closed pipe -----------------------------------------------------------


def test_a_closed_pipe_ends_the_command_quietly():
    command = [sys.executable, "-c", "from nnplug.cli import main; raise SystemExit(main())"]
    with subprocess.Popen(
        [*command, "plugins"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        child.stdout.close()  # as `| head -1` does once it has its line
        stderr = child.stderr.read().decode()
        status = child.wait(timeout=10)
    assert stderr == ""
    assert status == 1
