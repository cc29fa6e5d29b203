"""MkDocs hook: render the ``--help`` of every ``nnplug`` command into the CLI reference.

The page ``cli.md`` holds the marker ``<!-- cli-reference -->``; at build time it is replaced by
one section per command, each with the help text argparse prints, so the reference is the
parser itself and cannot drift from it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

MARKER = "<!-- cli-reference -->"
PAGE = "cli.md"
WIDTH = "88"


def commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Yield ``(words, parser)`` for ``parser`` and every sub-command below it, in order."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*prefix, name))


def render() -> str:
    """Return the Markdown of the whole reference: one section per command."""
    from nnplug.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse wraps at the terminal width; fix it
    try:
        sections = [
            f"## `{' '.join(('nnplug', *words))}`\n\n```text\n{parser.format_help()}```\n"
            for words, parser in commands(build_parser())
        ]
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(sections)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the marker on the CLI page by the rendered reference."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} must contain {MARKER!r} where the CLI reference goes")
    return markdown.replace(MARKER, render())
