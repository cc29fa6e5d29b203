"""What hostile files cost nnplug: peak memory of loading model files, time to refuse bombs.

    python benchmarks/bench_robustness.py

Each case runs in a fresh interpreter that first imports nnplug, loads its plugins and
touches NumPy (the baseline), then does one thing; the figure is the growth of the peak
resident set (``VmHWM``, reset before the action through ``/proc/self/clear_refs``; Linux)
over the resident set before it, and the wall time of the one thing:

- loading a forged 226-byte model file whose header declares Linear(20000, 20000);
- loading a genuine ~10 MB model file (784-1600-784-10, float32);
- refusing an IDX gzip bomb (4 MB on disk, a header declaring MNIST's 47 MB, inflating to
  4 GiB);
- refusing PNG bombs (20000x20000 and 8000x8000 declared in a few hundred bytes).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import textwrap
import zlib
from pathlib import Path

import nnplug
from nnplug import serialization

CHILD = """
import time, numpy as np, nnplug
nnplug.registry.layers["linear"]
np.zeros(16).sum()


def status(field):
    with open("/proc/self/status") as file:
        line = next(line for line in file if line.startswith(field + ":"))
    return int(line.split()[1])


with open("/proc/self/clear_refs", "w") as file:
    file.write("5")  # the peak resident set starts again from the current one
before = status("VmRSS")
started = time.perf_counter()
try:
    {action}
    outcome = "loaded"
except Exception as error:
    outcome = type(error).__name__
seconds = time.perf_counter() - started
after = status("VmHWM")
print(before * 1024, (after - before) * 1024, seconds, outcome)
"""


def measure(action: str) -> tuple[int, int, float, str]:
    """Run ``action`` in a child; return baseline bytes, peak growth, seconds, outcome."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    code = textwrap.dedent(CHILD).format(action=action)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    return int(out[0]), int(out[1]), float(out[2]), out[3]


def forged_model(path: Path) -> None:
    header = json.dumps(
        {
            "spec": {"type": "linear", "input_size": 20000, "output_size": 20000},
            "components": [
                {"kind": "layer", "name": "linear", "plugin": "nnplug.default_plugins.layers"}
            ],
            "arrays": [],
        }
    ).encode()
    body = serialization.MAGIC + struct.pack("<IQQ", 1, len(header), 0) + header
    path.write_bytes(body + hashlib.sha256(body).digest())


def genuine_model(path: Path) -> None:
    nnplug.seed(0)
    sizes = [784, 1600, 784, 10]
    layers = []
    for inputs, outputs in zip(sizes, sizes[1:], strict=False):
        layers += [nnplug.modules.Linear(inputs, outputs), nnplug.modules.Tanh()]
    nnplug.save(nnplug.modules.Sequential(layers[:-1]), path)


def gzip_bomb(path: Path) -> None:
    member = gzip.compress(bytes(64 << 20), compresslevel=9)
    with open(path, "wb") as file:
        file.write(gzip.compress(b"\0\0\x08\x03" + struct.pack(">III", 60000, 28, 28)))
        for _ in range(64):
            file.write(member)


def png_bomb(path: Path, side: int) -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(bytes(side + 1) * 64, 9)
    data = chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        cases = []
        forged_model(root / "forged.nnp")
        cases.append(("forged Linear(20000, 20000)", root / "forged.nnp", "nnplug.load({!r})"))
        genuine_model(root / "genuine.nnp")
        cases.append(("genuine 784-1600-784-10", root / "genuine.nnp", "nnplug.load({!r})"))
        gzip_bomb(root / "bomb.gz")
        load_idx = "from nnplug.datasets import load_idx; load_idx({!r})"
        cases.append(("IDX gzip bomb (4 GiB inflated)", root / "bomb.gz", load_idx))
        read_image = "from nnplug.images import read_image; read_image({!r})"
        for side in (20000, 8000):
            png_bomb(root / f"bomb{side}.png", side)
            cases.append((f"PNG bomb {side}x{side}", root / f"bomb{side}.png", read_image))
        print(f"{'case':34} {'file':>12} {'peak growth':>12} {'x file':>7} {'seconds':>8}  outcome")
        for name, path, action in cases:
            baseline, grown, seconds, outcome = measure(action.format(str(path)))
            size = path.stat().st_size
            ratio = f"{grown / size:.2f}" if size > 1 << 20 else "-"
            print(f"{name:34} {size:>12,} {grown:>12,} {ratio:>7} {seconds:>8.3f}  {outcome}")
        print(f"baseline (python, numpy, nnplug and its plugins): {baseline / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
