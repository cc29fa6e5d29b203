"""Reading images with Pillow: any format it knows (PNG, JPEG from phones and scans, ...),
as a greyscale array, with the size checked before a pixel is decoded."""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nnplug.regular_files import open_regular

MAX_PIXELS = 50_000_000  # a 50-megapixel photo; a digit needs far fewer
MAX_FILE_BYTES = 64 << 20
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"))


class ImageError(ValueError):
    """A file that is not an image Pillow can read, or too large to read safely."""


def read_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_FILE_BYTES,
) -> np.ndarray:
    """Return the image at ``path`` as a ``(height, width)`` uint8 greyscale array.

    Colour is converted to luminance, 16-bit and float images are scaled to 0..255, a
    photo's EXIF orientation is applied, and transparency is flattened onto a ground that
    contrasts with the opaque pixels. Raises ImageError for a special, oversized, corrupt
    or unreadable file, and for one of more than ``max_pixels`` pixels (read from its header).
    """
    name = os.fspath(path)
    file, _ = open_regular(path, what="image", max_bytes=max_bytes, error=ImageError)
    with file, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(file) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageError(
                        f"{name}: the image is {width}x{height} pixels, over the limit of "
                        f"{max_pixels}"
                    )
                image.load()
                return _to_grey(ImageOps.exif_transpose(image))
        except UnidentifiedImageError:
            file.seek(0)
            kind = next((k for sig, k in _SIGNATURES if file.read(len(sig)) == sig), None)
            if kind is None:
                raise ImageError(f"{name}: not an image file Pillow can read") from None
            raise ImageError(f"{name}: corrupt or unsupported image (a damaged {kind}?)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageError(f"{name}: refused as a decompression bomb ({error})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            if isinstance(error, ImageError):
                raise
            raise ImageError(f"{name}: corrupt or unsupported image ({error})") from None


def _to_grey(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        return np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
    if image.mode == "P" or "A" in image.mode or "transparency" in image.info:
        image = image.convert("RGBA")
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255
        grey = np.asarray(image.convert("L"), dtype=np.float32)
        opaque = grey[alpha > 0.5]
        # Dark strokes on a transparent ground go on white, light strokes on black.
        ground = 255.0 if opaque.size and opaque.mean() < 128 else 0.0
        return np.clip(np.rint(grey * alpha + ground * (1 - alpha)), 0, 255).astype(np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)
