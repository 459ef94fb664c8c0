"""Commands that need only the topology file: validate, routes, render, schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stack.cli import output
from stack.errors import StackError

if TYPE_CHECKING:
    from stack.settings.routes import Route

app = typer.Typer()

FileArg = Annotated[
    Path | None,
    typer.Argument(
        help="Topology file; default $STACK_FILE, else ./topology.yaml.", show_default=False
    ),
]


@app.command()
def validate(file: FileArg = None) -> None:
    """Check a topology file: every error and warning, with file, line and key."""
    from stack.topology.load import load

    loaded = load(file)
    for warning in loaded.warnings:
        output.problem(warning)
    topology = loaded.topology
    output.out().print(
        f"{loaded.path}: valid: {len(topology.all_queues)} queues, {len(topology.workers)} "
        f"worker groups, {len(topology.routes)} routes, {len(topology.beat)} beat entries, "
        f"{len(loaded.warnings)} warnings"
    )


@app.command()
def routes(
    file: FileArg = None,
    tasks: Annotated[
        list[str] | None, typer.Argument(help="Task names; default: every task the file names.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    from_app: Annotated[
        bool,
        typer.Option(
            "--app",
            help="Also every task the app registers, asked of its image (built as `stack up` "
            "builds it; needs Docker).",
        ),
    ] = False,
    *,
    for_task: Annotated[
        str | None,
        typer.Option(
            "--for",
            metavar="TASK",
            help="Celery's helpers (celery.map, .starmap, .chunks, .chord_unlock) wrapping TASK.",
        ),
    ] = None,
) -> None:
    """Which queue each task goes to, and which worker groups consume it (Celery's router).

    Celery's helper tasks (celery.*) follow the task they wrap; --for TASK says where.
    """
    from stack.settings.routes import helper_routes, resolve
    from stack.topology.load import load

    # A lone argument that is not a file is a task name: `stack routes tasks.add`.
    if file is not None and not file.exists() and file.suffix not in (".yaml", ".yml"):
        tasks = [str(file), *(tasks or [])]
        file = None
    loaded = load(file)
    tasks, helper_names = split_helpers(tasks, for_task, from_app)
    helpers = helper_routes(loaded.topology, helper_names, for_task) if helper_names != [] else []
    names = list(tasks or [])
    if from_app:
        from stack.deploy.ops.registered import registered_tasks

        with output.err().status("listing the app's tasks") as spinner:
            found = registered_tasks(loaded, status=spinner.update)
        names += sorted(n for n in found if not n.startswith("celery."))
    table = resolve(loaded.topology, list(dict.fromkeys(names)) or None)
    if helper_names and not names:
        table = []  # only helpers named: no rows of the topology's own tasks
    if as_json:
        rows = [{"task": r.task, "queue": r.queue, "workers": list(r.workers)} for r in table]
        rows += [helper_row(r) for r in helpers]
        output.out().print_json(json.dumps(rows))
    else:
        from rich.table import Table

        view = Table("task", "queue", "workers", "rule", title=f"routes of {loaded.topology.name}")
        for r in table:
            workers = ", ".join(r.workers) or "[red]none[/]"
            view.add_row(r.task, r.queue, workers, r.rule or "[dim](default queue)[/]")
        for r in helpers:
            view.add_row(*helper_cells(r))
        output.out().print(view)
    table += [r for r in helpers if r.queue is not None]
    orphans = [r for r in table if not r.workers]
    if orphans:
        names_text = ", ".join(f"{r.task} -> {r.queue}" for r in orphans)
        raise StackError(f"no worker group consumes the queue of: {names_text}")


def split_helpers(
    tasks: list[str] | None, for_task: str | None, from_app: bool
) -> tuple[list[str], list[str] | None]:
    """Task names -> (the user's tasks, the helpers to show: None for every reachable one).

    Helpers named (celery.*) are shown; else with --for, those that wrap a task (and T
    itself when no task is named); else every reachable helper when no task is named
    (nor --app).
    """
    names = list(tasks or [])
    helpers = [t for t in names if t.startswith("celery.")]
    others = [t for t in names if not t.startswith("celery.")]
    if helpers:
        return others, helpers
    if for_task:
        return others or [for_task], None
    return others, (None if not others and not from_app else [])


def helper_row(route: Route) -> dict[str, Any]:
    return {"task": route.task, "queue": route.queue, "workers": list(route.workers),
            "follows": route.follows}  # fmt: skip


def helper_cells(route: Route) -> tuple[str, str, str, str]:
    """A helper's table row: its route, or (for any task it wraps) what it follows."""
    if route.queue is None:
        same = "[dim]as its task[/]"
        return route.task, same, same, f"follows {route.follows}"
    workers = ", ".join(route.workers) or "[red]none[/]"
    rule = f"follows {route.follows}" if route.follows else route.rule or "(default queue)"
    return route.task, route.queue, workers, rule


@app.command()
def render(
    file: FileArg = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("rendered"),
) -> None:
    """Write DIR/compose.yaml (+ its 0600 env file and build context) and the Helm chart."""
    from stack.deploy.render.write import write_all
    from stack.topology.load import load

    loaded = load(file)
    wheelhouse = os.environ.get("STACK_WHEELHOUSE")
    for path in write_all(loaded, out, Path(wheelhouse) if wheelhouse else None):
        output.out().print(f"wrote {path}")


@app.command()
def schema() -> None:
    """Print the topology file's JSON Schema (for editors)."""
    from stack.topology.model import Topology

    output.out().print_json(json.dumps(Topology.model_json_schema()))
