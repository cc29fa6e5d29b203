"""The fenced Python blocks of a documentation page, as the tests and the figure script run them.

A block preceded by the line ``<!-- needs: mnist -->`` needs the real MNIST files; the fast
tests leave it out, the slow ones run it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(
    r"^(?P<marker><!-- needs: (?P<needs>[a-z]+) -->\n)?```python\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Block:
    """One fenced Python block: its code, its first line in the page and what it needs."""

    code: str
    line: int
    needs: str | None


def python_blocks(page: Path) -> list[Block]:
    """Return the page's fenced Python blocks in order."""
    text = page.read_text(encoding="utf-8")
    return [
        Block(
            match["code"],
            text.count("\n", 0, match.start("code")) + 1,
            match["needs"],
        )
        for match in FENCE.finditer(text)
    ]


def run_blocks(page: Path, blocks: list[Block], namespace: dict[str, object]) -> None:
    """Execute ``blocks`` in order in ``namespace``, each compiled under the page's name."""
    for block in blocks:
        # Leading newlines make tracebacks point at the block's lines in the page.
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(page), "exec"), namespace)
