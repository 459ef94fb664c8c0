"""`stack top`'s live view: a rich.live screen redrawn every few seconds, and keys that
scale a group, drain or resume one, or purge a queue, each asked for and confirmed."""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

import typer

from stack.cli import output
from stack.cli.top_view import render
from stack.errors import StackError


def _scale(file: Path | None, group: str, replicas: int) -> None:
    """As `stack scale` does: the Swarm's service where the stack runs there."""
    from stack.deploy.ops.project import open_project
    from stack.deploy.ops.scale import check, parse, scale
    from stack.deploy.swarm import apply

    project = open_project(file, full=False)
    if not apply.on_swarm(project.loaded):
        scale(file, [f"{group}={replicas}"], console=output.err())
        return
    wanted = parse([f"{group}={replicas}"])
    check(project, wanted)  # no second beat, no unknown group
    with output.err().status("scaling") as spinner:
        apply.scale(project.name, wanted, spinner.update)


def act(key: str, file: Path | None) -> str:
    """Ask what a key needs, confirm, do it; what to show after."""
    from stack.deploy.ops import steer

    if key == "s":
        group = typer.prompt("scale worker group")
        replicas = typer.prompt("replicas", type=int)
        if not typer.confirm(f"scale {group} to {replicas}?"):
            return "scale cancelled"
        _scale(file, group, replicas)
        return f"scaled {group} to {replicas}"
    if key in ("d", "r"):
        verb = "drain" if key == "d" else "resume"
        group = typer.prompt(f"{verb} worker group")
        what = "stop taking tasks from" if key == "d" else "take tasks again from"
        if not typer.confirm(f"{verb} {group}: its workers {what} its queues?"):
            return f"{verb} cancelled"
        nodes = steer.drain(file, group, resume=key == "r")
        done = "drained" if key == "d" else "resumed"
        return f"{done} {group} on {', '.join(nodes)}"
    queue = typer.prompt("purge queue")
    if not typer.confirm(f"delete every message waiting in {queue}?"):
        return "purge cancelled"
    return f"purged {steer.purge(file, queue)} messages from {queue}"


def run(file: Path | None, every: float) -> None:
    import termios
    import tty

    from rich.console import Group
    from rich.live import Live

    from stack.deploy.ops.top import observe

    if not sys.stdin.isatty():
        raise StackError("the live view needs a terminal: use --once (and --json)")
    fd = sys.stdin.fileno()
    cooked = termios.tcgetattr(fd)
    status = ""

    def draw() -> Group:
        return render(observe(file), updated=time.strftime("%H:%M:%S"), status=status)

    live = Live(draw(), console=output.out(), screen=True, auto_refresh=False)
    live.start(refresh=True)
    try:
        tty.setcbreak(fd)  # keys without Enter; ^C still interrupts
        while True:
            ready, _, _ = select.select([fd], [], [], every)
            key = os.read(fd, 1).decode(errors="replace") if ready else ""
            if key in ("q", "Q"):
                return
            if key in ("s", "d", "r", "p"):
                live.stop()
                termios.tcsetattr(fd, termios.TCSADRAIN, cooked)
                try:
                    status = act(key, file)
                except StackError as exc:  # shown in the view; the view goes on
                    status = f"[red]Error:[/] {exc}"
                finally:
                    tty.setcbreak(fd)
                    live.start()
            live.update(draw(), refresh=True)
    except KeyboardInterrupt:  # ^C ends the view as q does
        return
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, cooked)
        live.stop()
