"""Commands that watch and steer a running topology: celery (and top).

Celery is imported inside each command, so `stack --help` stays fast.
"""

from __future__ import annotations

import typer

from stack.cli.runtime_cmds import FileOpt

app = typer.Typer()


@app.command(
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        # --file only before Celery's arguments: the rest (its own -f, --help) is Celery's.
        "allow_interspersed_args": False,
    },
    add_help_option=False,
)
def celery(ctx: typer.Context, file: FileOpt = None) -> None:
    """Celery's own CLI (inspect, control, status, purge, result, events, call, ...) on the
    running stack, with the topology's settings, from the host: `stack celery inspect
    active_queues`, `stack celery events`, `stack celery --help`."""
    from stack.deploy.ops.celery_cli import app_for, run

    code = run(app_for(file), ctx.args)
    if code:
        raise typer.Exit(code)
