"""What the conformance kit reports: one result per check, a report of them, and the
checker that runs each check so that a failure never stops the others."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check of one component."""

    component: str
    kind: str
    check: str
    passed: bool
    detail: str = ""
    skipped: bool = False
    example: str = ""

    @property
    def status(self) -> str:
        """``pass``, ``FAIL`` or ``skip``."""
        return "skip" if self.skipped else ("pass" if self.passed else "FAIL")

    def __str__(self) -> str:
        what = f"{self.kind} {self.component!r}{f' ({self.example})' if self.example else ''}"
        return f"{what}: {self.check}{f': {self.detail}' if self.detail else ''}"


@dataclass
class Report:
    """Every check run, in order; true when all passed."""

    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that failed."""
        return [result for result in self.results if not result.passed]

    def summary(self) -> str:
        """One line, e.g. ``41 checks: 40 passed, 1 failed, 0 skipped``."""
        skipped = sum(result.skipped for result in self.results)
        failed = len(self.failures)
        passed = len(self.results) - failed - skipped
        return f"{len(self.results)} checks: {passed} passed, {failed} failed, {skipped} skipped"

    def extend(self, other: Report) -> None:
        """Append the results of ``other``."""
        self.results.extend(other.results)

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)


class Checker:
    """Collects results for one component and example; a failing check never stops the others."""

    def __init__(self, report: Report, component: str, kind: str, example: str = "") -> None:
        self.report, self.component, self.kind, self.example = report, component, kind, example

    def run(self, check: str, function: Callable[[], object]) -> bool:
        """Run ``function`` as one check: it fails by raising, and may return a detail string."""
        try:
            result = function()
        except Skip as skip:
            self._add(check, True, str(skip), skipped=True)
            return True
        except Exception as error:  # the kit reports plugin failures, it must not crash
            self._add(check, False, _describe_error(error))
            return False
        self._add(check, True, result if isinstance(result, str) else "")
        return True

    def _add(self, check: str, passed: bool, detail: str, skipped: bool = False) -> None:
        self.report.results.append(
            CheckResult(self.component, self.kind, check, passed, detail, skipped, self.example)
        )


class Skip(Exception):
    """A check that does not apply here (a single backend installed, say)."""


class Failed(AssertionError):
    """A check's own failure, reported with its message."""


def _describe_error(error: Exception) -> str:
    if isinstance(error, Failed):
        return str(error)
    return f"{type(error).__name__}: {error}"


def fail(message: str) -> None:
    """Fail the running check with ``message``."""
    raise Failed(message)


def skip(message: str) -> None:
    """Skip the running check, for the reason ``message``."""
    raise Skip(message)
