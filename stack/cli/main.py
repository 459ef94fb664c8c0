"""The `stack` command: argument parsing and printing only; the work is done elsewhere."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from ..errors import StackError, TopologyError
from . import output


class StackGroup(TyperGroup):
    """Turns every StackError into one line per problem on stderr and exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context is private
        try:
            return super().invoke(ctx)
        except TopologyError as exc:
            for p in exc.problems:
                output.problem(p)
            raise typer.Exit(1) from None
        except StackError as exc:
            # The message is data (paths, names with brackets), never rich markup.
            output.err().print("[red]Error:[/] ", end="", markup=True)
            output.err().print(str(exc), markup=False, highlight=False)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=StackGroup,
    help="Run a Celery topology (queues, routes, worker groups, beat) on Docker or Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks must never show locals: broker URLs carry passwords.
    pretty_exceptions_show_locals=False,
    # Plain click help: typer's rich help formatter alone costs ~0.15 s of start-up.
    rich_markup_mode=None,
)


def _register() -> None:
    from . import topology_cmds

    app.add_typer(topology_cmds.app)
    try:
        from . import runtime_cmds
    except ImportError:  # pragma: no cover - present once the runtime lands
        pass
    else:
        app.add_typer(runtime_cmds.app)
    try:
        from . import deploy
    except ImportError:  # pragma: no cover - present once the chart lands
        pass
    else:
        app.add_typer(deploy.app)


_register()


def main() -> None:
    app()
