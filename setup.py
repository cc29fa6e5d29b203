"""cffi_modules can only be passed to setup(); everything else lives in pyproject.toml.

The C extension is optional: without a working C compiler nnplug installs without it,
prints one warning, and runs on its NumPy backend. NNPLUG_REQUIRE_NATIVE=1 makes a failed
C build fail the install instead (for CI).
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError


class OptionalBuildExt(build_ext):
    """build_ext that skips, with a warning, an extension the C toolchain cannot build."""

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except (CCompilerError, ExecError, PlatformError) as error:
            if os.environ.get("NNPLUG_REQUIRE_NATIVE", "").strip().lower() not in (
                "",
                "0",
                "false",
                "no",
            ):
                raise
            ext.optional = True  # lets an in-place (editable) build skip the missing file
            print(
                f"WARNING: nnplug's C extension {ext.name} could not be built ({error}). "
                "nnplug is installed without it and will use its slower NumPy backend. "
                "Install a C compiler and reinstall to get the C backend, or set "
                "NNPLUG_REQUIRE_NATIVE=1 to make this an error.",
                file=sys.stderr,
            )


setup(cffi_modules=["build_ffi.py:ffibuilder"], cmdclass={"build_ext": OptionalBuildExt})
