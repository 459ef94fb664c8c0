"""Console output shared by commands: problems, errors, tables.

rich is imported on first use, so `stack --help` does not pay for it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from stack.errors import Problem

if TYPE_CHECKING:
    from rich.console import Console


@cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def out() -> Console:
    return _console(False)


def err() -> Console:
    return _console(True)


def problem(p: Problem) -> None:
    where = f"{p.file}:{p.line}" if p.line else p.file
    key = f" {p.path}:" if p.path else ""
    label = "[yellow]warning[/]" if p.severity == "warning" else "[red]error[/]"
    err().print(f"{where}:{key} {label}: ", end="", markup=True)
    err().print(p.message, markup=False)
