"""cffi_modules can only be passed to setup(); everything else lives in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
