"""Reading images with Pillow, and making a photo of a digit into an MNIST image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from nnplug.images import read_image
from nnplug.preprocessing import mnist_digit


def digit() -> np.ndarray:
    """An MNIST-like 28x28 digit: a light ring (a zero) on black, centred."""
    y, x = np.mgrid[:28, :28]
    radius = np.hypot(y - 14, (x - 14) * 1.4)
    return np.clip(255 * (1 - np.abs(radius - 7) / 2.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "I;16", "LA", "RGBA"])
def test_every_common_mode_reads_as_greyscale(tmp_path, mode):
    grey = digit()
    if mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)
    else:
        image = Image.fromarray(grey).convert(mode)
    image.save(tmp_path / "digit.png")
    np.testing.assert_allclose(read_image(tmp_path / "digit.png"), grey, atol=1)


def test_transparency_goes_on_a_ground_that_contrasts_with_the_strokes(tmp_path):
    strokes = np.zeros((10, 10, 4), np.uint8)  # black strokes, transparent elsewhere
    strokes[4:6, :, 3] = 255
    Image.fromarray(strokes, "RGBA").save(tmp_path / "drawn.png")
    image = read_image(tmp_path / "drawn.png")
    assert image[5, 5] == 0 and image[0, 0] == 255


def test_a_jpeg_reads(tmp_path):
    Image.fromarray(digit()).save(tmp_path / "digit.jpg", quality=95)
    assert np.abs(read_image(tmp_path / "digit.jpg").astype(int) - digit()).max() < 40


def test_exif_orientation_is_applied(tmp_path):
    wide = np.zeros((10, 30), np.uint8)
    image = Image.fromarray(wide)
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90 degrees
    image.save(tmp_path / "phone.jpg", exif=exif)
    assert read_image(tmp_path / "phone.jpg").shape == (30, 10)


def photo_of(grey: np.ndarray, rng: np.random.Generator) -> bytes:
    """A phone-photo-like JPEG of a digit: dark ink on uneven light paper, large, off-centre."""
    ink = Image.fromarray(255 - grey).resize((300, 300), Image.Resampling.BILINEAR)
    ink = np.asarray(ink.filter(ImageFilter.GaussianBlur(2)), np.float32)
    paper = 205 + 30 * np.linspace(0, 1, 400)[None, :] + rng.normal(0, 5, (480, 400))
    paper[100:400, 40:340] *= ink / 255
    rgb = np.stack([paper * 0.95, paper, paper * 0.9], axis=2).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def test_a_photo_of_a_digit_becomes_the_mnist_image_of_that_digit(tmp_path, rng):
    grey = digit()
    (tmp_path / "photo.jpg").write_bytes(photo_of(grey, rng))
    made = mnist_digit(read_image(tmp_path / "photo.jpg")).astype(float)
    reference = mnist_digit(grey).astype(float)
    assert made.shape == (28, 28)
    assert np.corrcoef(made.ravel(), reference.ravel())[0, 1] > 0.8
    mass = made.sum()
    centre = ((made.sum(axis=1) @ np.arange(28)) / mass, (made.sum(axis=0) @ np.arange(28)) / mass)
    np.testing.assert_allclose(centre, (14, 14), atol=0.6)
    rows, columns = np.nonzero(made > 0)
    assert max(np.ptp(rows), np.ptp(columns)) + 1 in (20, 21)  # scaled into 20x20 (+ resampling)


def test_an_mnist_image_stays_light_on_dark_and_a_forced_inversion_is_honoured():
    grey = digit()
    assert mnist_digit(grey)[14, 14] == 0 and mnist_digit(grey).max() > 200
    assert mnist_digit(255 - grey).max() > 200  # detected and inverted
    np.testing.assert_array_equal(mnist_digit(255 - grey), mnist_digit(grey))
    np.testing.assert_array_equal(mnist_digit(255 - grey, invert=True), mnist_digit(grey))
