"""The compiled extension exists and works: a build that silently produced none must fail here."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cffi
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
PUBLIC_HEADERS = ["nnplug_kernels.h", "nnplug_plan.h"]


def test_extension_is_built_and_imports():
    """nnplug._native must be importable: CI builds it, so its absence is a build failure."""
    assert importlib.util.find_spec("nnplug._native") is not None, (
        "nnplug._native is missing: the C extension was not built. "
        "Run `pip install -e .` with a C compiler available (NNPLUG_REQUIRE_NATIVE=1 makes "
        "a failed build an error)."
    )
    from nnplug._c import native_available

    assert native_available()


def test_one_kernel_on_a_2x2_case():
    """The smallest end-to-end call: y = x W^T + b through the raw cffi binding."""
    from nnplug._native import ffi, lib

    x = np.array([[1, 2], [3, 4]], dtype=np.float32)
    w = np.array([[1, 0], [1, 1]], dtype=np.float32)
    b = np.array([10, 20], dtype=np.float32)
    y = np.empty((2, 2), dtype=np.float32)
    status = lib.nnp_linear_forward(
        2,
        2,
        2,
        ffi.from_buffer("float[]", x),
        2,
        ffi.from_buffer("float[]", w),
        2,
        ffi.from_buffer("float[]", b),
        ffi.from_buffer("float[]", y, require_writable=True),
        2,
    )
    assert status == lib.NNP_OK
    np.testing.assert_array_equal(y, [[11, 23], [13, 27]])


def test_kernel_reports_bad_arguments_with_a_status():
    """C checks its own arguments too: a negative size comes back as NNP_ERR_SIZE."""
    from nnplug._native import ffi, lib

    status = lib.nnp_linear_forward(-1, 2, 2, ffi.NULL, 2, ffi.NULL, 2, ffi.NULL, ffi.NULL, 2)
    assert status == lib.NNP_ERR_SIZE


def test_public_headers_parse_as_a_cdef():
    """The headers are the cdef: cffi must parse them as they are."""
    ffi = cffi.FFI()
    for header in PUBLIC_HEADERS:
        ffi.cdef((CSRC / header).read_text(encoding="utf-8"))
    assert ffi.typeof("enum nnp_status").relements["NNP_OK"] == 0


def test_every_declared_function_is_in_the_extension():
    """Each entry point declared in the public headers is callable from nnplug._native."""
    from nnplug._native import lib

    declared = set()
    for header in PUBLIC_HEADERS:
        text = (CSRC / header).read_text(encoding="utf-8")
        declared |= set(re.findall(r"^\w[\w ]*?\b(nnp_\w+)\(", text, flags=re.MULTILINE))
    assert {"nnp_linear_forward", "nnp_softmax_forward", "nnp_adam_step"} <= declared
    assert declared <= set(dir(lib))


def test_cdef_header_has_no_preprocessor_lines():
    """cffi's cdef takes no #include, #ifdef or macros; the public headers have none."""
    for header in PUBLIC_HEADERS:
        lines = (CSRC / header).read_text(encoding="utf-8").splitlines()
        directives = [line for line in lines if line.lstrip().startswith("#")]
        assert directives == [], f"{header} has preprocessor lines: {directives}"


def test_every_isa_level_below_the_cpus_is_available():
    """Each copy of the matrix kernels can be selected, and the cap is undone with 0."""
    from nnplug._c import matmul

    top = matmul.isa_level()
    assert top in (1, 2, 3, 4)
    try:
        for level in range(1, top + 1):
            assert matmul.set_max_isa_level(level) == level
    finally:
        assert matmul.set_max_isa_level(0) == top


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_c_sources_compile_without_warnings(tmp_path):
    """Every kernel source compiles under -Wall -Wextra -Werror with the build's flags."""
    sys.path.insert(0, str(ROOT))
    try:
        import build_ffi
    finally:
        sys.path.remove(str(ROOT))
    args = build_ffi._compile_args(sys.platform, {})
    for source in build_ffi.SOURCES:
        result = subprocess.run(
            ["gcc", *args, "-Werror", "-fPIC", "-I", str(CSRC), "-c", str(ROOT / source)]
            + ["-I", str(ROOT / build_ffi.PLUGIN_INCLUDE_DIR), "-o", str(tmp_path / "kernel.o")],
            capture_output=True,
            text=True,
            env={**os.environ, "LC_ALL": "C"},
        )
        assert result.returncode == 0, f"{source}:\n{result.stderr}"


def test_the_distribution_lists_every_package():
    """pyproject.toml names its packages one by one; a new subpackage left off that list
    works in an editable install and is missing from a wheel."""
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = re.search(r"^\[tool\.setuptools\]\npackages = (\[.*\])$", config, re.MULTILINE)
    assert listed, "pyproject.toml: no packages list under [tool.setuptools]"
    nnplug_dir = ROOT / "nnplug"
    found = {
        ".".join(("nnplug", *init.parent.relative_to(nnplug_dir).parts))
        for init in nnplug_dir.rglob("__init__.py")
    }
    missing = found - set(json.loads(listed.group(1)))
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
