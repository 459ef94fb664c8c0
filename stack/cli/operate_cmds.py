"""Commands that watch and steer a running topology: celery, requeue, top.

Celery is imported inside each command, so `stack --help` stays fast.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from stack.cli import output, top_live
from stack.cli.runtime_cmds import FileArg, FileOpt
from stack.errors import StackError

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


@app.command()
def requeue(
    file: FileArg = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Move at most this many.")
    ] = None,
) -> None:
    """Send the tasks in the dead-letter queue (stack.dead: their worker process died in
    each of max_deliveries deliveries) back to the queues they came from."""
    from stack.deploy.ops.deadletters import requeue as run_requeue

    moved = run_requeue(file, limit)
    if not moved:
        typer.echo("no dead letters")
        return
    for routing_key, count in sorted(moved.items()):
        typer.echo(f"{count} back to {routing_key or '(the default exchange)'}")


@app.command()
def top(
    file: FileArg = None,
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --once: as JSON.")] = False,
    every: Annotated[float, typer.Option("--every", help="Seconds between refreshes.")] = 2.0,
) -> None:
    """Per worker group (replicas, reserved and running tasks) and per queue (pending at every
    priority step, consumers), and workers on the broker outside the topology. Works with
    task events off: broker depths and `inspect`. Live until ^C, or --once."""
    from stack.cli.top_view import render
    from stack.deploy.ops.top import observe

    if as_json and not once:
        raise StackError("--json needs --once")
    if once:
        data = observe(file)
        if as_json:
            typer.echo(json.dumps(data, indent=2))
        else:
            output.out().print(render(data))
        return
    top_live.run(file, every)
