"""cffi_modules can only be passed to setup(); everything else lives in pyproject.toml.

The C kernels are optional: when they cannot be compiled (no compiler, no nnplug header)
the plugin installs without them, prints one warning, and Swish runs its NumPy definition.
NNPLUG_REQUIRE_NATIVE=1, as for nnplug itself, makes a failed build fail the install (CI).
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
            required = os.environ.get("NNPLUG_REQUIRE_NATIVE", "").strip().lower()
            if required not in ("", "0", "false", "no"):
                raise
            ext.optional = True  # lets an in-place (editable) build skip the missing file
            print(
                f"WARNING: nnplug-swish's C kernels ({ext.name}) could not be built ({error}). "
                "Swish is installed with its NumPy path only; install a C compiler and "
                "reinstall to get them.",
                file=sys.stderr,
            )


setup(cffi_modules=["build_ffi.py:ffibuilder"], cmdclass={"build_ext": OptionalBuildExt})
