"""The ``nnplug`` command line: one module per command, each with ``register``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import nnplug
from nnplug.cli import check, evaluate, export, plugins, predict, train
from nnplug.datasets import DatasetError
from nnplug.errors import (
    MissingDependencyError,
    ModelFileError,
    NnplugLookupError,
    SpecError,
    TrainingDivergedError,
)

__all__ = ["build_parser", "main"]

COMMANDS = (train, evaluate, predict, export, plugins, check)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``nnplug`` command."""
    parser = argparse.ArgumentParser(prog="nnplug", description=nnplug.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"nnplug {nnplug.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nnplug`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "backend", None):
            nnplug.set_backend(args.backend)
        if getattr(args, "seed", None) is not None:
            nnplug.seed(args.seed)
        return args.run(args)
    except (
        DatasetError,
        MissingDependencyError,
        ModelFileError,
        NnplugLookupError,
        SpecError,
        TrainingDivergedError,
    ) as error:
        print(f"nnplug: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnplug: interrupted", file=sys.stderr)
        return 130
