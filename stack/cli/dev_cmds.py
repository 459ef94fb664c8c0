"""`stack dev`: run the stack on the code being edited, reloading what an edit concerns."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from stack.cli import output
from stack.cli.runtime_cmds import FileArg, TimeoutOpt

app = typer.Typer()
_print = threading.Lock()  # log threads and the watcher print whole lines, never interleaved


def _say(text: str) -> None:
    from rich.text import Text

    with _print:
        output.out().print(Text.assemble(("dev", "bold magenta"), " | ", text))


def _log(container: str, line: str) -> None:
    from rich.text import Text

    with _print:
        output.out().print(Text.assemble((container, "cyan"), " | ", line))


@app.command()
def dev(
    file: FileArg = None,
    *,
    groups: Annotated[
        str | None,
        typer.Option("--groups", help="Run only these worker groups, e.g. red,blue."),
    ] = None,
    down: Annotated[
        bool, typer.Option("--down", help="Stop and remove the stack on Ctrl-C.")
    ] = False,
    poll: Annotated[
        bool,
        typer.Option("--poll", help="Poll for changes (shared or network folders inotify misses)."),
    ] = False,
    timeout: TimeoutOpt = 120.0,
) -> None:
    """`stack up` on the code in this directory, then reload on every save until Ctrl-C.

    Workers and beat run the app from a checked copy: a save that compiles and imports
    restarts only the processes that imported the changed files (warm: running tasks
    finish; `dev_restart: terminate` in a group: at once). A save that does not is
    reported with file:line and the old code keeps serving. requirements.txt or the
    topology: the image is rebuilt. The app containers' logs follow here.
    """
    from stack.deploy.dev.session import DevSession, Settings, run

    chosen = [g.strip() for g in groups.split(",") if g.strip()] if groups else None
    session = DevSession(Settings(file, chosen, timeout, poll), _say, _log)
    result = session.start()
    watched = ", ".join(map(str, session.watched()))
    _say(f"{result.project} is up in {result.seconds:.1f} s; watching {watched} (Ctrl-C stops)")
    try:
        run(session)
    except KeyboardInterrupt:
        _stopped(file, down)


def _stopped(file: Path | None, down: bool) -> None:
    if not down:
        _say(
            "stopped watching; the stack keeps running on the last good copy of the code "
            "(`stack up` runs the image's code again, `stack down` stops it)"
        )
        return
    from stack.deploy.ops.down import down as run_down

    removed = run_down(file)
    _say(f"stack removed ({len(removed)} objects)")
