"""The `stack` command: argument parsing and printing only; the work is done elsewhere."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from stack.cli import deploy, dev_cmds, operate_cmds, output, runtime_cmds, topology_cmds
from stack.errors import StackError, TopologyError


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


app.add_typer(topology_cmds.app)
app.add_typer(runtime_cmds.app)
app.add_typer(deploy.app)
app.add_typer(operate_cmds.app)
app.add_typer(dev_cmds.app)


def main() -> None:
    """Run the command, then leave without the interpreter's teardown (see exit_now)."""
    try:
        app()
    except SystemExit as exc:
        exit_now(exc.code)
    exit_now(0)


def exit_now(code: Any) -> NoReturn:
    """Exit with code as sys.exit would, skipping the interpreter's teardown of its heap.

    Finalization frees every object of every imported module one at a time: after `stack
    scale`, which imports Celery, kombu, pydantic and the Docker SDK, that was 0.2 s of CPU
    after the last line was printed, a tenth of the command (bench/RESULTS.md, "2026-12-02,
    820ff56: a race in `stack scale`, and the CLI's exit").
    The exit handlers still run (logging's flush, weakref finalizers) and the streams are
    flushed; only the teardown is skipped. While a thread other than this one still runs,
    the usual exit waits for it instead.
    """
    if isinstance(code, str):  # sys.exit("message"): printed, exit status 1
        print(code, file=sys.stderr)
        code = 1
    status = 0 if code is None else code if isinstance(code, int) else 1
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(t.is_alive() and not t.daemon for t in others):
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # The reader of a pipe may have gone (`stack ps | head`); nothing is left to tell it.
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(status)
