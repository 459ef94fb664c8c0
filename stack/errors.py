"""The project's exceptions: one base, so the CLI turns every failure into one line."""

from __future__ import annotations

from dataclasses import dataclass


class StackError(Exception):
    """Base of every error stack reports to the user."""


@dataclass(frozen=True)
class Problem:
    """One finding about a topology file, located by line and key path."""

    file: str
    line: int | None
    path: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class TopologyError(StackError):
    """The topology file is missing, unreadable or invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RuntimeStackError(StackError):
    """Docker (or Helm) could not do what was asked."""


class NotReadyError(RuntimeStackError):
    """A service did not become ready in time; the message carries its last log lines."""
