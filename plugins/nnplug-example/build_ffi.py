"""Build the Swish C kernels as the cffi module ``nnplug_swish._kernels``.

``setup.py`` hands ``ffibuilder`` to cffi (``cffi_modules``), so ``pip install`` compiles
csrc/swish.c against the ``nnplug_plugin.h`` of the nnplug installed next to it.

Environment knobs, read at build time:

``NNPLUG_SWISH_CFLAGS`` / ``NNPLUG_SWISH_LDFLAGS``
    Extra compiler and linker arguments, split like a shell command line (the sanitizer
    job passes ``-fsanitize=address,undefined``).
``NNPLUG_INCLUDE``
    The directory of ``nnplug_plugin.h``, if nnplug cannot be imported by the build.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import cffi

ENV_CFLAGS = "NNPLUG_SWISH_CFLAGS"
ENV_LDFLAGS = "NNPLUG_SWISH_LDFLAGS"
ENV_INCLUDE = "NNPLUG_INCLUDE"

_HERE = Path(__file__).resolve().parent
# -fno-math-errno and -fno-trapping-math let the loops vectorise; -ffp-contract=fast makes
# the polynomial FMAs; -fopenmp-simd honours `#pragma omp simd` without an OpenMP runtime.
_UNIX_ARGS = [
    "-O3",
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-ffp-contract=fast",
    "-fno-trapping-math",
    "-fno-math-errno",
    "-fopenmp-simd",
]


def nnplug_include(env: dict[str, str] | None = None) -> str | None:
    """The directory of nnplug_plugin.h: $NNPLUG_INCLUDE, else nnplug.get_include() here,
    else from the interpreter's own site-packages (pip's isolated build environment hides
    the installed nnplug from this process). None if nnplug is not installed."""
    env = dict(os.environ if env is None else env)
    if env.get(ENV_INCLUDE):
        return env[ENV_INCLUDE]
    try:
        import nnplug
    except ImportError:
        pass
    else:
        return nnplug.get_include()
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONNOUSERSITE", None)
    found = subprocess.run(
        [sys.executable, "-c", "import nnplug; print(nnplug.get_include())"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if found.returncode != 0 or not found.stdout.strip():
        return None
    return found.stdout.strip()


def _make_ffibuilder() -> cffi.FFI:
    include = nnplug_include()
    builder = cffi.FFI()
    builder.cdef((_HERE / "csrc" / "swish.h").read_text(encoding="utf-8"))
    msvc = sys.platform == "win32"
    builder.set_source(
        "nnplug_swish._kernels",
        '#include "swish.h"',
        sources=["csrc/swish.c"],
        # Without nnplug's header the compile fails, and setup.py installs the NumPy path.
        include_dirs=["csrc", *([include] if include else [])],
        depends=["csrc/swish.h"],
        extra_compile_args=[
            *([] if msvc else _UNIX_ARGS),
            *shlex.split(os.environ.get(ENV_CFLAGS, ""), posix=not msvc),
        ],
        extra_link_args=shlex.split(os.environ.get(ENV_LDFLAGS, ""), posix=not msvc),
    )
    return builder


ffibuilder = _make_ffibuilder()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=sys.argv[1] if len(sys.argv) > 1 else ".", verbose=True)
