"""Build nnplug's C kernels as the cffi extension ``nnplug._native`` (out-of-line API mode).

``setup.py`` hands ``ffibuilder`` to cffi through ``cffi_modules``, so ``pip install .`` (or
``pip install -e .``) compiles it. ``python build_ffi.py [DIR]`` compiles it into DIR, by
default a new temporary directory, to check the build by hand. It never writes into
``nnplug/``, where a stray ``_native.cpython-*.so`` would shadow the installed
``_native.abi3.so``.

Environment knobs, read when this module is imported (that is, at build time):

``NNPLUG_CFLAGS``
    Extra compiler arguments, split like a shell command line (``"-march=native"``).
``NNPLUG_LDFLAGS``
    Extra linker arguments, likewise (``"-fsanitize=address,undefined"`` for the sanitizer
    build that ``.ci/sanitize`` makes).
``NNPLUG_NO_TARGET_CLONES=1``
    Compile the element-wise kernels for the baseline ISA only, without per-CPU clones.
``NNPLUG_NO_VECTOR_EXT=1``
    Compile the matrix kernels as plain C only, without vector-extension copies.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import cffi

ENV_CFLAGS = "NNPLUG_CFLAGS"
ENV_LDFLAGS = "NNPLUG_LDFLAGS"
ENV_NO_TARGET_CLONES = "NNPLUG_NO_TARGET_CLONES"
ENV_NO_VECTOR_EXT = "NNPLUG_NO_VECTOR_EXT"

MODULE_NAME = "nnplug._native"
INCLUDE_DIR = "csrc"
# The plugin ABI (installed with nnplug for plugins to compile against); csrc/plan.c checks
# its own kernel types against it.
PLUGIN_INCLUDE_DIR = "nnplug/include"
PLUGIN_HEADER = "nnplug/include/nnplug_plugin.h"
# The public headers, in this order, are both the cdef and the C preamble.
PUBLIC_HEADERS = ["csrc/nnplug_kernels.h", "csrc/nnplug_plan.h", "csrc/nnplug_conv.h"]
SOURCES = [
    "csrc/activations.c",
    "csrc/conv.c",
    "csrc/dropout.c",
    "csrc/matmul.c",
    "csrc/optim.c",
    "csrc/plan.c",
    "csrc/softmax.c",
]
PRIVATE_HEADERS = [
    "csrc/checks.h",
    "csrc/matmul.h",
    "csrc/matmul_tiles.h",
    "csrc/optim.h",
    "csrc/simd.h",
    "csrc/vmath.h",
]

# GCC and Clang. -ffp-contract=fast lets a * b + c become one FMA instruction, which the
# matrix kernels depend on (ISO C modes default to no contraction). -fno-trapping-math lets
# the compiler evaluate both sides of a select, so loops with clamps and divisions
# vectorise, and -fno-math-errno turns sqrtf into an instruction; nothing reads the FP
# exception flags or errno. Neither changes a computed value. -fopenmp-simd honours
# `#pragma omp simd` without linking an OpenMP runtime; the training plan's own threads
# (csrc/plan.c) are POSIX threads, hence -pthread.
_UNIX_ARGS = [
    "-O3",
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-ffp-contract=fast",
    "-fno-trapping-math",
    "-fno-math-errno",
    "-fopenmp-simd",
    "-pthread",
]
_MSVC_ARGS = ["/O2"]


def _env_flag(env: Mapping[str, str], name: str) -> bool:
    """Whether the environment variable ``name`` is set to something other than off."""
    return env.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _compile_args(platform: str, env: Mapping[str, str]) -> list[str]:
    """Return the compiler arguments for ``platform`` (a ``sys.platform`` value) and ``env``."""
    msvc = platform == "win32"
    args = list(_MSVC_ARGS if msvc else _UNIX_ARGS)
    define = "/D" if msvc else "-D"
    if _env_flag(env, ENV_NO_TARGET_CLONES):
        args.append(f"{define}NNP_NO_TARGET_CLONES")
    if _env_flag(env, ENV_NO_VECTOR_EXT):
        args.append(f"{define}NNP_NO_VECTOR_EXT")
    args.extend(shlex.split(env.get(ENV_CFLAGS, ""), posix=not msvc))
    return args


def _link_args(platform: str, env: Mapping[str, str]) -> list[str]:
    """Return the extra linker arguments for ``platform`` and ``env``: threads, and any asked."""
    msvc = platform == "win32"
    args = [] if msvc else ["-pthread"]
    args.extend(shlex.split(env.get(ENV_LDFLAGS, ""), posix=not msvc))
    return args


# Python functions that C calls back (cffi's extern "Python"): declared in the cdef only,
# since the C compiler would not know the syntax; nnplug/_c/plan.py defines it.
PYTHON_CALLBACKS = """
extern "Python" int nnp_plan_python_callback(void *, int, int, ptrdiff_t, const float *,
                                             const float *, float *, double *);
"""


def _read_cdef(paths: list[Path]) -> str:
    """Return the cdef: the public headers, which are written to be cffi-parsable as they are,
    and the Python callbacks."""
    return "\n".join(path.read_text(encoding="utf-8") for path in paths) + PYTHON_CALLBACKS


def _preamble(headers: list[str]) -> str:
    """Return the C source of the extension module: it includes the public headers."""
    return "".join(f'#include "{Path(header).name}"\n' for header in headers)


def _make_ffibuilder(root: Path | None = None) -> cffi.FFI:
    """Return the builder; paths are relative to the project root unless ``root`` is given.

    setuptools runs from the project root and wants relative paths; ``FFI.compile`` changes
    into its output directory, so the by-hand build passes the root to make them absolute.
    """

    def path(name: str) -> str:
        return name if root is None else str(root / name)

    builder = cffi.FFI()
    builder.cdef(_read_cdef([_ROOT / header for header in PUBLIC_HEADERS]))
    builder.set_source(
        MODULE_NAME,
        _preamble(PUBLIC_HEADERS),
        sources=[path(name) for name in SOURCES],
        include_dirs=[path(INCLUDE_DIR), path(PLUGIN_INCLUDE_DIR)],
        depends=[path(name) for name in (*PUBLIC_HEADERS, *PRIVATE_HEADERS, PLUGIN_HEADER)],
        extra_compile_args=_compile_args(sys.platform, os.environ),
        extra_link_args=_link_args(sys.platform, os.environ),
    )
    return builder


_ROOT = Path(__file__).resolve().parent

ffibuilder = _make_ffibuilder()

if __name__ == "__main__":
    out_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="nnplug-build-")
    built = _make_ffibuilder(_ROOT).compile(tmpdir=out_dir, verbose=True)
    print(f"built {built} (not installed; `pip install -e .` builds nnplug/_native.abi3.so)")
