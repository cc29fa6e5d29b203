"""The ``nnplug`` command line: one module per command, each with ``register``.

Every error a user can cause is one line on stderr, ``nnplug: error: ...``, with exit status
2 for a bad argument or input and 1 for a failure while running (a diverged or non-finite
model, an I/O or memory error, a bug). ``NNPLUG_DEBUG=1`` shows the traceback instead. A
closed output pipe (``nnplug ... | head -1``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import nnplug
from nnplug.cli import check, evaluate, export, plugins, predict, train
from nnplug.datasets import DatasetError
from nnplug.errors import (
    MissingDependencyError,
    ModelFileError,
    NnplugLookupError,
    NonFiniteModelError,
    OutputPathError,
    SpecError,
    TrainingDivergedError,
)
from nnplug.images import ImageError

__all__ = ["build_parser", "main"]

COMMANDS = (train, evaluate, predict, export, plugins, check)
USAGE, RUNTIME = 2, 1
DEBUG_VARIABLE = "NNPLUG_DEBUG"
# Errors about what the user gave: a name, a file, a value.
_INPUT_ERRORS = (
    DatasetError,
    ImageError,
    MissingDependencyError,
    ModelFileError,
    NnplugLookupError,
    OutputPathError,
    SpecError,
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, pointing at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``nnplug`` command."""
    parser = _Parser(prog="nnplug", description=nnplug.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"nnplug {nnplug.__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nnplug`` command; return its exit status."""
    try:
        status = _run(argv)
        sys.stdout.flush()  # a closed pipe shows up here at the latest
        return status
    except BrokenPipeError:
        # The reader is gone: say nothing, and keep Python from failing to flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return RUNTIME


def _run(argv: Sequence[str] | None) -> int:
    debug = os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0")
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "backend", None):
            nnplug.set_backend(args.backend)
        if getattr(args, "seed", None) is not None:
            nnplug.seed(args.seed)
        return args.run(args)
    except KeyboardInterrupt:
        print("nnplug: interrupted", file=sys.stderr)
        return 130
    except (BrokenPipeError, SystemExit):
        raise
    except BaseException as error:
        if debug:
            raise
        status, message = _describe(error)
        print(f"nnplug: error: {message}", file=sys.stderr)
        return status


def _describe(error: BaseException) -> tuple[int, str]:
    """The exit status and the one-line message for ``error``."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if isinstance(error, (TrainingDivergedError, NonFiniteModelError)):
        return RUNTIME, text
    if isinstance(error, _INPUT_ERRORS):
        return USAGE, text
    if isinstance(error, MemoryError):
        return RUNTIME, "out of memory" + (f": {text}" if text else "")
    if isinstance(error, RecursionError):
        return USAGE, "the input is nested too deeply"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return RUNTIME, f"{where}{error.strerror or text}"
    if isinstance(error, (ValueError, TypeError)):
        return USAGE, text
    hint = f" (set {DEBUG_VARIABLE}=1 for the traceback)"
    return RUNTIME, f"unexpected {type(error).__name__}: {text}{hint}"
