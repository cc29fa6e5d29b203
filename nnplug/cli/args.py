"""Argument types and options shared by the commands."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_backend_and_seed(parser: argparse.ArgumentParser) -> None:
    """Add ``--backend`` and ``--seed``."""
    parser.add_argument("--backend", help="backend to compute on (c, numpy, or a plugin's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
