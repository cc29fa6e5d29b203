"""build_ffi.py's pure helpers, and setup.py's handling of a C build that fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cffi
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
try:
    import build_ffi
finally:
    sys.path.remove(str(ROOT))


def test_env_flag_reads_common_spellings():
    """Unset, empty, 0, false and no are off; anything else is on."""
    for value in ("", "0", "false", "No", " 0 "):
        assert not build_ffi._env_flag({"X": value}, "X")
    for value in ("1", "yes", "true", "on"):
        assert build_ffi._env_flag({"X": value}, "X")
    assert not build_ffi._env_flag({}, "X")


def test_compile_args_for_gcc_and_clang():
    """Optimised, warning-checked C99 with FMA contraction and OpenMP SIMD pragmas only."""
    args = build_ffi._compile_args("linux", {})
    assert args[:4] == ["-O3", "-std=c99", "-Wall", "-Wextra"]
    assert "-ffp-contract=fast" in args and "-fopenmp-simd" in args
    assert "-fopenmp" not in args  # never the threaded runtime: see BUILD-FACTS
    assert not any(arg.startswith("-D") for arg in args)
    assert build_ffi._compile_args("darwin", {}) == args


def test_link_args_add_threads_and_what_the_environment_asks():
    """POSIX threads for the fused trainer; NNPLUG_LDFLAGS appended, split like a shell."""
    assert build_ffi._link_args("linux", {}) == ["-pthread"]
    sanitized = build_ffi._link_args("linux", {"NNPLUG_LDFLAGS": "-fsanitize=address -g"})
    assert sanitized == ["-pthread", "-fsanitize=address", "-g"]
    assert build_ffi._link_args("win32", {}) == []


def test_compile_args_for_msvc():
    """MSVC gets its own spelling, and the same knobs as /D defines."""
    args = build_ffi._compile_args("win32", {"NNPLUG_NO_VECTOR_EXT": "1"})
    assert args == ["/O2", "/DNNP_NO_VECTOR_EXT"]


def test_env_knobs_become_defines_and_extra_flags():
    """The knobs map to the macros csrc/simd.h reads; NNPLUG_CFLAGS is split like a shell."""
    env = {
        "NNPLUG_NO_TARGET_CLONES": "1",
        "NNPLUG_NO_VECTOR_EXT": "yes",
        "NNPLUG_CFLAGS": "-march=native '-DNAME=a b'",
    }
    args = build_ffi._compile_args("linux", env)
    assert args[-4:] == [
        "-DNNP_NO_TARGET_CLONES",
        "-DNNP_NO_VECTOR_EXT",
        "-march=native",
        "-DNAME=a b",
    ]
    assert "-DNNP_NO_VECTOR_EXT" not in build_ffi._compile_args(
        "linux", {"NNPLUG_NO_VECTOR_EXT": "0"}
    )


def test_simd_header_reads_the_macros_the_knobs_define():
    """A knob that defines a macro nothing reads would silently do nothing."""
    simd = (ROOT / "csrc" / "simd.h").read_text(encoding="utf-8")
    for macro in ("NNP_NO_TARGET_CLONES", "NNP_NO_VECTOR_EXT"):
        assert f"defined({macro})" in simd


def test_source_and_header_lists_cover_csrc():
    """Every C file is compiled and every header is a dependency, so none is forgotten."""
    on_disk = {path.relative_to(ROOT).as_posix() for path in (ROOT / "csrc").iterdir()}
    assert set(build_ffi.SOURCES) == {name for name in on_disk if name.endswith(".c")}
    headers = set(build_ffi.PUBLIC_HEADERS) | set(build_ffi.PRIVATE_HEADERS)
    assert headers == {name for name in on_disk if name.endswith(".h")}
    assert build_ffi.SOURCES == sorted(build_ffi.SOURCES)


def test_read_cdef_joins_the_public_headers(tmp_path):
    """The cdef is the headers' text, in order, and cffi accepts it."""
    first, second = tmp_path / "a.h", tmp_path / "b.h"
    first.write_text("int f(int x);\n")
    second.write_text("int g(int y);\n")
    text = build_ffi._read_cdef([first, second])
    assert text.index("int f") < text.index("int g")
    cffi.FFI().cdef(text)


def test_preamble_includes_each_public_header_by_name():
    assert build_ffi._preamble(["csrc/a.h", "csrc/b.h"]) == '#include "a.h"\n#include "b.h"\n'


def test_builder_targets_the_package_module():
    """The extension is nnplug._native, which the wrappers and the plugin import."""
    assert build_ffi.MODULE_NAME == "nnplug._native"
    assert isinstance(build_ffi.ffibuilder, cffi.FFI)


def test_absolute_builder_for_builds_by_hand():
    """The by-hand build works from any directory, since FFI.compile changes into its own."""
    builder = build_ffi._make_ffibuilder(ROOT)
    sources = builder._assigned_source[3]["sources"]
    assert all(Path(source).is_absolute() and Path(source).exists() for source in sources)


def _build_ext(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run setup.py build_ext out of tree with a "compiler" that always fails."""
    return subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext"]
        + ["--build-lib", str(tmp_path / "lib"), "--build-temp", str(tmp_path / "temp")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "CC": "false", "NNPLUG_REQUIRE_NATIVE": "", **env},
    )


@pytest.mark.skipif(sys.platform == "win32", reason="CC=false is a POSIX trick")
def test_failed_c_build_installs_without_the_extension_and_warns(tmp_path):
    """No working compiler: the build succeeds, leaves no extension, and says so once."""
    result = _build_ext(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        result.stderr.count("WARNING: nnplug's C extension nnplug._native could not be built") == 1
    )
    assert "NNPLUG_REQUIRE_NATIVE=1" in result.stderr
    assert not list((tmp_path / "lib").rglob("_native*"))


@pytest.mark.skipif(sys.platform == "win32", reason="CC=false is a POSIX trick")
def test_failed_c_build_is_an_error_when_native_is_required(tmp_path):
    """NNPLUG_REQUIRE_NATIVE=1 turns the same failure into a failed build, for CI."""
    result = _build_ext(tmp_path, NNPLUG_REQUIRE_NATIVE="1")
    assert result.returncode != 0
    assert "could not be built" not in result.stderr
