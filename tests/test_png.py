"""The small PNG reader and writer used by ``nnplug predict``."""

import zlib

import numpy as np
import pytest

from nnplug.png import PngError, read_png, write_png


def test_round_trip(tmp_path, rng):
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    write_png(tmp_path / "digit.png", image)
    np.testing.assert_array_equal(read_png(tmp_path / "digit.png"), image)


@pytest.mark.parametrize("channels", [3, 4])
def test_reads_filtered_colour_images_written_by_matplotlib(tmp_path, rng, channels):
    pyplot_image = pytest.importorskip("matplotlib.image")
    grey = (np.add.outer(np.arange(40), np.arange(30)) * 3 % 256).astype(np.uint8)
    pixels = np.repeat(grey[..., None], channels, axis=2)
    if channels == 4:
        pixels[..., 3] = 255
    pyplot_image.imsave(tmp_path / "image.png", pixels)
    np.testing.assert_array_equal(read_png(tmp_path / "image.png"), grey)


def test_alpha_is_composited_on_black(tmp_path):
    pyplot_image = pytest.importorskip("matplotlib.image")
    pixels = np.full((2, 2, 4), 200, dtype=np.uint8)
    pixels[0, 0, 3] = 0
    pyplot_image.imsave(tmp_path / "alpha.png", pixels)
    image = read_png(tmp_path / "alpha.png")
    assert image[0, 0] == 0 and image[1, 1] == round(200 * 200 / 255)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda data: b"GIF89a" + data[6:], "not a PNG"),
        (lambda data: data[:40], "truncated"),
        (lambda data: data[:20] + bytes([data[20] ^ 1]) + data[21:], "checksum mismatch"),
    ],
)
def test_bad_files_are_rejected_by_name(tmp_path, mutate, message):
    path = tmp_path / "bad.png"
    write_png(path, np.zeros((4, 4), dtype=np.uint8))
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(PngError, match=f"bad.png: .*{message}|bad.png: {message}"):
        read_png(path)


def test_sixteen_bit_images_are_refused(tmp_path):
    import struct

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 16, 0, 0, 0, 0)
    (tmp_path / "deep.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    )
    with pytest.raises(PngError, match="bit depth 16"):
        read_png(tmp_path / "deep.png")


def test_write_png_wants_grey_bytes():
    with pytest.raises(ValueError, match="2-D uint8"):
        write_png("unused.png", np.zeros((2, 2), dtype=np.float32))
