"""``nnplug check [PLUGIN ...]``: run the conformance kit on plugins (default: all of them)."""

from __future__ import annotations

import argparse

from nnplug import testing
from nnplug.cli.plugins import format_table

ARGUMENTS_WIDTH = 60


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``check`` command."""
    parser = commands.add_parser(
        "check",
        help="check plugins' gradients, backend parity, specs and save/load",
        description="Run the conformance kit (nnplug.testing) on the named plugins, "
        "or on every registered plugin. Exits 1 if any check fails.",
    )
    parser.add_argument(
        "plugins", nargs="*", metavar="PLUGIN", help="plugin names, as `nnplug plugins` shows"
    )
    parser.set_defaults(run=check)


def check(args: argparse.Namespace) -> int:
    """Print one row per check, each skip and failure in full, and a summary; exit 1 on failure."""
    report = testing.check_plugins(args.plugins or None)
    rows = [
        (result.component, result.kind, result.check, result.status, _shorten(result.example))
        for result in report
    ]
    print(format_table(("COMPONENT", "KIND", "CHECK", "RESULT", "ARGUMENTS"), rows))
    print()
    for result in report:
        if result.skipped:
            print(f"SKIPPED {result}")
    for failure in report.failures:
        print(f"FAILED {failure}")
    print(report.summary())
    return 0 if report.passed else 1


def _shorten(text: str) -> str:
    return text if len(text) <= ARGUMENTS_WIDTH else text[: ARGUMENTS_WIDTH - 3] + "..."
