"""Console output shared by commands: problems, errors, tables."""

from __future__ import annotations

from rich.console import Console

from ..errors import Problem

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def problem(p: Problem) -> None:
    where = f"{p.file}:{p.line}" if p.line else p.file
    key = f" {p.path}:" if p.path else ""
    label = "[yellow]warning[/]" if p.severity == "warning" else "[red]error[/]"
    err.print(f"{where}:{key} {label}: ", end="", markup=True)
    err.print(p.message, markup=False)
