"""Reading and writing 8-bit PNG images, enough for digits: no dependency beyond zlib.

``read_png`` returns greyscale (colour is averaged, alpha composited on black);
``write_png`` writes greyscale. Interlaced and 16-bit images are refused with a clear error.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel


class PngError(ValueError):
    """A file that is not a PNG this reader supports."""


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Return the image at ``path`` as a ``(height, width)`` uint8 greyscale array."""
    data = Path(path).read_bytes()
    name = Path(path).name
    if not data.startswith(SIGNATURE):
        raise PngError(f"{name}: not a PNG file")
    chunks = _chunks(data, name)
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise PngError(f"{name}: missing or malformed IHDR header")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or colour not in _CHANNELS:
        raise PngError(
            f"{name}: only 8-bit grey, grey+alpha, RGB and RGBA are supported "
            f"(bit depth {depth}, colour type {colour})"
        )
    if interlace:
        raise PngError(f"{name}: interlaced PNGs are not supported")
    channels = _CHANNELS[colour]
    try:
        raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    except zlib.error as error:
        raise PngError(f"{name}: corrupt image data ({error})") from None
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise PngError(
            f"{name}: image data has {len(raw)} bytes, expected "
            f"{height * (stride + 1)} for {width}x{height}"
        )
    pixels = _unfilter(
        np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1), channels, name
    )
    return _to_grey(pixels.reshape(height, width, channels))


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write a ``(height, width)`` uint8 array as a greyscale PNG."""
    array = np.asarray(image)
    if array.ndim != 2 or array.dtype != np.uint8:
        raise ValueError(f"write_png: expected a 2-D uint8 array, got {array.dtype} {array.shape}")
    height, width = array.shape
    rows = np.hstack([np.zeros((height, 1), dtype=np.uint8), array])  # filter type 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes()))
    Path(path).write_bytes(SIGNATURE + body + _chunk(b"IEND", b""))


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _chunks(data: bytes, name: str) -> list[tuple[bytes, bytes]]:
    chunks, offset = [], len(SIGNATURE)
    while offset < len(data):
        if offset + 8 > len(data):
            raise PngError(f"{name}: truncated chunk header")
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        crc = data[offset + 8 + length : offset + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise PngError(f"{name}: truncated {kind.decode('latin-1')} chunk")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise PngError(f"{name}: checksum mismatch in {kind.decode('latin-1')} chunk")
        chunks.append((kind, body))
        offset += 12 + length
        if kind == b"IEND":
            break
    return chunks


def _unfilter(rows: np.ndarray, bpp: int, name: str) -> np.ndarray:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth)."""
    height, stride = rows.shape[0], rows.shape[1] - 1
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind in (0, 2):
            current = (line + (previous if kind == 2 else 0)) & 0xFF
        elif kind in (1, 3, 4):
            current = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                left = current[x - bpp] if x >= bpp else 0
                up = previous[x]
                if kind == 1:
                    predictor = left
                elif kind == 3:
                    predictor = (left + up) // 2
                else:
                    up_left = previous[x - bpp] if x >= bpp else 0
                    predictor = _paeth(left, up, up_left)
                current[x] = (line[x] + predictor) & 0xFF
        else:
            raise PngError(f"{name}: unknown filter type {kind} in row {y}")
        out[y] = current
        previous = current
    return out


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _to_grey(pixels: np.ndarray) -> np.ndarray:
    channels = pixels.shape[2]
    colour = pixels[..., : 3 if channels >= 3 else 1].astype(np.float32).mean(axis=2)
    if channels in (2, 4):
        colour *= pixels[..., -1].astype(np.float32) / 255.0
    return np.clip(np.rint(colour), 0, 255).astype(np.uint8)
