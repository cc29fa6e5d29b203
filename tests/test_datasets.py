"""Tests for nnplug.datasets: IDX parsing, verification, caching and mirror fallback.

Downloads go to a real HTTP server on 127.0.0.1 that serves tiny generated datasets.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from nnplug.datasets import (
    FASHION_MNIST,
    MNIST,
    Checksum,
    Dataset,
    DatasetError,
    RemoteFile,
    default_data_dir,
    download_fashion_mnist,
    download_mnist,
    load_dataset,
    load_idx,
)

NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
REAL_MNIST_DIR = Path(__file__).parents[1].parent / "shared" / "mnist"


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode `array` as an IDX file (values big-endian)."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def tiny_payloads(seed: int = 0) -> dict[str, bytes]:
    """IDX payloads of a 20-train, 10-test dataset of 28x28 images, by file name."""
    rng = np.random.default_rng(seed)
    arrays = (
        rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 20, dtype=np.uint8),
        rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 10, dtype=np.uint8),
    )
    return {name: idx_bytes(array) for name, array in zip(NAMES, arrays, strict=True)}


PAYLOADS = tiny_payloads()
ARCHIVES = {f"{name}.gz": gzip.compress(payload, mtime=0) for name, payload in PAYLOADS.items()}


def tiny_dataset(mirrors: tuple[str, ...] = (), *, by_archive: bool = False) -> Dataset:
    """A Dataset description of PAYLOADS, verified by payload SHA-256 or archive MD5."""
    if by_archive:
        checksums = [
            Checksum("md5", hashlib.md5(ARCHIVES[f"{n}.gz"]).hexdigest(), of="archive")
            for n in NAMES
        ]
    else:
        checksums = [Checksum("sha256", hashlib.sha256(PAYLOADS[n]).hexdigest()) for n in NAMES]
    files = tuple(RemoteFile(n, c) for n, c in zip(NAMES, checksums, strict=True))
    return Dataset(name="tiny", title="Tiny", files=files, mirrors=mirrors)


def payload_dataset(root: Path) -> Dataset:
    """A Dataset description whose payload checksums match the uncompressed files in `root`."""
    files = (
        RemoteFile(n, Checksum("sha256", hashlib.sha256((root / n).read_bytes()).hexdigest()))
        for n in NAMES
    )
    return replace(tiny_dataset(), files=tuple(files))


def write_files(directory: Path, *, compressed: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, payload in PAYLOADS.items():
        if compressed:
            (directory / f"{name}.gz").write_bytes(ARCHIVES[f"{name}.gz"])
        else:
            (directory / name).write_bytes(payload)
    return directory


def assert_tiny(splits: tuple[np.ndarray, ...]) -> None:
    assert [a.shape for a in splits] == [(20, 28, 28), (20,), (10, 28, 28), (10,)]
    for array, name in zip(splits, NAMES, strict=True):
        assert array.dtype == np.uint8
        np.testing.assert_array_equal(array, load_idx(PAYLOADS[name]))


def leftovers(directory: Path) -> list[str]:
    """Every path under `directory`, relative to it."""
    return sorted(path.relative_to(directory).as_posix() for path in directory.rglob("*"))


CACHED = sorted(["tiny", *(f"tiny/{name}" for name in ARCHIVES)])


@dataclass
class Reply:
    body: bytes
    content_type: str = "application/octet-stream"
    content_length: int | None = None
    delay: float = 0.0


@dataclass
class Mirrors:
    """What the local server serves under each mirror prefix, and the paths requested."""

    base: str = ""
    routes: dict[str, Reply] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, mirror: str) -> str:
        return f"{self.base}/{mirror}/"

    def serve(self, mirror: str, replies: dict[str, Reply] | None = None) -> str:
        """Serve the tiny archives under `mirror`, with some replaced; return its URL."""
        for name, archive in ARCHIVES.items():
            self.routes[f"/{mirror}/{name}"] = Reply(archive)
        for name, reply in (replies or {}).items():
            self.routes[f"/{mirror}/{name}"] = reply
        return self.url(mirror)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        mirrors: Mirrors = self.server.mirrors  # type: ignore[attr-defined]
        mirrors.requests.append(self.path)
        reply = mirrors.routes.get(self.path)
        if reply is None:
            self.send_error(404)
            return
        time.sleep(reply.delay)
        self.send_response(200)
        self.send_header("Content-Type", reply.content_type)
        length = len(reply.body) if reply.content_length is None else reply.content_length
        self.send_header("Content-Length", str(length))
        self.end_headers()
        try:
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # The client gave up first: it timed out or rejected the headers.
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    mirrors = Mirrors(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.mirrors = mirrors  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield mirrors
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def refused_url() -> str:
    """A URL on a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mirror/"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """Keep the user's data directory, cache and proxies out of every test."""
    monkeypatch.delenv("NNPLUG_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def load(dataset: Dataset, root: Path, **kwargs) -> tuple[np.ndarray, ...]:
    return load_dataset(dataset, root, progress=False, **kwargs)


# IDX parsing


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
def test_load_idx_reads_every_type(dtype):
    code = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}[dtype]
    array = (np.arange(24).reshape(2, 3, 4) - 12).astype(dtype)
    loaded = load_idx(idx_bytes(array, code))
    assert loaded.dtype.isnative and loaded.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(loaded, array)


def test_load_idx_reads_paths_gzip_or_not(tmp_path):
    payload = PAYLOADS["t10k-labels-idx1-ubyte"]
    (tmp_path / "labels").write_bytes(payload)
    (tmp_path / "labels.gz").write_bytes(gzip.compress(payload))
    raw, compressed = load_idx(tmp_path / "labels"), load_idx(str(tmp_path / "labels.gz"))
    np.testing.assert_array_equal(raw, compressed)
    assert raw.shape == (10,)


IMAGES = idx_bytes(np.zeros((10, 2, 2), np.uint8))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\0\0\x08", "too short"),
        (b"\x01\x02" + IMAGES[2:], "not an IDX file"),
        (b"<!DOCTYPE html><html>Not Found</html>", "HTML page"),
        (IMAGES[:2] + b"\x07" + IMAGES[3:], "unknown IDX type code 0x07"),
        (b"\0\0\x08\0", "0 dimensions"),
        (IMAGES[:10], "header truncated"),
        (
            IMAGES[:-5],
            "expected 40 bytes of data for (10, 2, 2) uint8 values, found 35 (truncated?)",
        ),
        (IMAGES + b"\0\0", "found 42 (2 trailing bytes)"),
        (gzip.compress(IMAGES)[:-12], "corrupt gzip data"),
        (gzip.compress(IMAGES)[:10] + b"garbage" * 3, "corrupt gzip data"),
    ],
)
def test_load_idx_rejects_malformed_data(data, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_idx(data)


def test_load_idx_errors_name_the_file(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(IMAGES[:-1]))
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: expected 40 bytes"):
        load_idx(path)
    assert issubclass(DatasetError, ValueError)


# Finding and verifying files on disk


def test_files_directly_in_the_data_dir_are_used(tmp_path):
    assert_tiny(load(tiny_dataset(), write_files(tmp_path / "shared"), download=False))


def test_files_in_the_dataset_subdirectory_are_used(tmp_path):
    write_files(tmp_path / "tiny")
    assert_tiny(load(tiny_dataset(), tmp_path, download=False))


def test_uncompressed_files_are_accepted(tmp_path):
    root = write_files(tmp_path, compressed=False)
    assert_tiny(load(tiny_dataset(), root, download=False))
    assert_tiny(load(tiny_dataset(by_archive=True), root, download=False))


def test_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NNPLUG_DATA_DIR", str(write_files(tmp_path / "env")))
    assert default_data_dir() == tmp_path / "env"
    assert_tiny(load_dataset(tiny_dataset(), download=False, progress=False))


def test_data_dir_defaults_to_the_user_cache(tmp_path, monkeypatch):
    assert default_data_dir() == tmp_path / "xdg-cache" / "nnplug"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".cache" / "nnplug"


def test_missing_files_without_download_say_where_to_put_them(tmp_path, server):
    dataset = tiny_dataset((server.serve("m1"),))
    with pytest.raises(DatasetError) as info:
        load(dataset, tmp_path, download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte[.gz]" in message
    assert str(tmp_path / "tiny") in message and "NNPLUG_DATA_DIR" in message
    assert server.requests == []


def test_a_corrupt_stored_file_is_reported_with_the_fix(tmp_path):
    root = write_files(tmp_path / "tiny")
    bad = PAYLOADS["train-labels-idx1-ubyte"][:-1] + b"\x01"
    (root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bad))
    with pytest.raises(DatasetError) as info:
        load(tiny_dataset(), tmp_path, download=False)
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz: SHA256 of the decompressed data is" in message
    assert f"Delete {root / 'train-labels-idx1-ubyte.gz'}" in message


def test_archive_checksums_are_checked_on_stored_files(tmp_path):
    root = write_files(tmp_path)
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(PAYLOADS["t10k-labels-idx1-ubyte"], mtime=1)
    )
    with pytest.raises(DatasetError, match="MD5 of the gzip file") as info:
        load(tiny_dataset(by_archive=True), root, download=False)
    assert "holds another dataset with the same file names" in str(info.value)


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        (np.zeros((19, 28, 28), np.uint8), "holds 19 images but .* holds 20 labels"),
        (np.zeros((20, 784), np.uint8), r"expected 3-D images .* found shape \(20, 784\)"),
        (np.zeros((20, 28, 28), np.int16), "expected uint8 images"),
        (np.zeros((20, 28, 27), np.uint8), r"images of shape \(28, 27\) but"),
    ],
)
def test_inconsistent_files_are_rejected(tmp_path, replacement, message):
    root = write_files(tmp_path, compressed=False)
    code = 0x0B if replacement.dtype == np.int16 else 0x08
    (root / "train-images-idx3-ubyte").write_bytes(idx_bytes(replacement, code))
    with pytest.raises(DatasetError, match=message):
        load(payload_dataset(root), root, download=False)


def test_labels_out_of_range_are_rejected(tmp_path):
    root = write_files(tmp_path, compressed=False)
    (root / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(10, 10, np.uint8)))
    with pytest.raises(DatasetError, match=r"labels must be in 0\.\.9, found 10"):
        load(payload_dataset(root), root, download=False)


# Downloading


def test_download_then_read_from_the_cache(tmp_path, server, capsys):
    dataset = tiny_dataset((server.serve("m1"),))
    assert_tiny(load_dataset(dataset, tmp_path, progress=True))
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err
    assert leftovers(tmp_path) == CACHED
    assert len(server.requests) == 4
    assert_tiny(load(dataset, tmp_path))
    assert len(server.requests) == 4


def test_archive_verified_download(tmp_path, server):
    assert_tiny(load(tiny_dataset((server.serve("m1"),), by_archive=True), tmp_path))


def test_a_missing_file_falls_back_to_the_next_mirror(tmp_path, server):
    dataset = tiny_dataset((server.url("empty"), server.serve("m2")))
    assert_tiny(load(dataset, tmp_path))
    assert server.requests[:2] == [
        "/empty/train-images-idx3-ubyte.gz",
        "/m2/train-images-idx3-ubyte.gz",
    ]


def test_a_refused_connection_falls_back_to_the_next_mirror(tmp_path, server, refused_url):
    assert_tiny(load(tiny_dataset((refused_url, server.serve("m2"))), tmp_path))


BAD_ARCHIVE = gzip.compress(tiny_payloads(seed=1)["train-labels-idx1-ubyte"])


@pytest.mark.parametrize(
    "reply",
    [
        Reply(BAD_ARCHIVE),
        Reply(ARCHIVES["train-labels-idx1-ubyte.gz"], content_length=10_000),
        Reply(b"<html><body>Moved</body></html>", content_type="text/html; charset=utf-8"),
        Reply(b"<!DOCTYPE html><html><body>Moved</body></html>"),
        Reply(ARCHIVES["train-labels-idx1-ubyte.gz"][:-20]),
    ],
    ids=["checksum-mismatch", "truncated-transfer", "html-page", "html-as-binary", "short-gzip"],
)
def test_a_bad_download_falls_back_to_the_next_mirror(tmp_path, server, reply):
    bad = server.serve("bad", {"train-labels-idx1-ubyte.gz": reply})
    assert_tiny(load(tiny_dataset((bad, server.serve("good"))), tmp_path))
    assert "/good/train-labels-idx1-ubyte.gz" in server.requests
    assert leftovers(tmp_path) == CACHED


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(BAD_ARCHIVE), "SHA256 of the decompressed data is [0-9a-f]{64}, expected"),
        (
            Reply(ARCHIVES["train-labels-idx1-ubyte.gz"], content_length=10_000),
            r"closed after \d+ of 10000 bytes \(truncated download\)",
        ),
        (Reply(b"<html></html>", content_type="text/html"), "sent an HTML page"),
        (Reply(b"<!DOCTYPE html><html></html>"), "not a gzip file; .*an HTML page"),
        (
            Reply(ARCHIVES["train-labels-idx1-ubyte.gz"], delay=1.0),
            r"timed out \(no data for 0.2 s\)",
        ),
    ],
    ids=["checksum-mismatch", "truncated-transfer", "html-page", "html-as-binary", "timeout"],
)
def test_when_every_mirror_fails_nothing_is_left_behind(tmp_path, server, reply, message):
    mirrors = tuple(server.serve(m, {"train-labels-idx1-ubyte.gz": reply}) for m in ("m1", "m2"))
    with pytest.raises(DatasetError, match=message) as info:
        load(tiny_dataset(mirrors), tmp_path, timeout=0.2)
    assert f"{mirrors[1]}train-labels-idx1-ubyte.gz: " in str(info.value)
    assert leftovers(tmp_path / "tiny") == ["train-images-idx3-ubyte.gz"]


def test_offline_lists_every_url_and_the_manual_fix(tmp_path, refused_url, server):
    mirrors = (refused_url, server.url("gone"))
    with pytest.raises(DatasetError) as info:
        load(tiny_dataset(mirrors), tmp_path)
    message = str(info.value)
    assert f"{refused_url}train-images-idx3-ubyte.gz: ConnectionRefusedError" in message
    assert f"{server.url('gone')}train-images-idx3-ubyte.gz: HTTP 404" in message
    assert f"download {', '.join(ARCHIVES)}" in message
    assert f"into {tmp_path / 'tiny'}" in message and "NNPLUG_DATA_DIR" in message
    assert leftovers(tmp_path) == ["tiny"]


# The real datasets


def test_public_functions_use_their_own_directories(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path / "mnist")):
        download_mnist(tmp_path, download=False)
    with pytest.raises(DatasetError, match=str(tmp_path / "fashion-mnist")):
        download_fashion_mnist(tmp_path, download=False)
    assert MNIST.mirrors[0].startswith("https://") and FASHION_MNIST.name == "fashion-mnist"


@pytest.mark.mnist
def test_real_mnist():
    if not (REAL_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST files are not in {REAL_MNIST_DIR}")
    x_train, y_train, x_test, y_test = download_mnist(REAL_MNIST_DIR, download=False)
    assert [a.shape for a in (x_train, y_train, x_test, y_test)] == [
        (60000, 28, 28),
        (60000,),
        (10000, 28, 28),
        (10000,),
    ]
    assert y_train[:15].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5, 3, 6, 1]
