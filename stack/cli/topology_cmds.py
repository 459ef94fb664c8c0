"""Commands that need only the topology file: validate, routes, render, schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from stack.cli import output
from stack.errors import StackError

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
) -> None:
    """Which queue each task goes to, and which worker groups consume it (Celery's router)."""
    from stack.settings.routes import resolve
    from stack.topology.load import load

    # A lone argument that is not a file is a task name: `stack routes tasks.add`.
    if file is not None and not file.exists() and file.suffix not in (".yaml", ".yml"):
        tasks = [str(file), *(tasks or [])]
        file = None
    loaded = load(file)
    names = list(tasks or [])
    if from_app:
        from stack.deploy.ops.registered import registered_tasks

        with output.err().status("listing the app's tasks") as spinner:
            found = registered_tasks(loaded, status=spinner.update)
        names += sorted(n for n in found if not n.startswith("celery."))
    table = resolve(loaded.topology, list(dict.fromkeys(names)) or None)
    if as_json:
        rows = [{"task": r.task, "queue": r.queue, "workers": list(r.workers)} for r in table]
        output.out().print_json(json.dumps(rows))
    else:
        from rich.table import Table

        view = Table("task", "queue", "workers", "rule", title=f"routes of {loaded.topology.name}")
        for r in table:
            workers = ", ".join(r.workers) or "[red]none[/]"
            view.add_row(r.task, r.queue, workers, r.rule or "[dim](default queue)[/]")
        output.out().print(view)
    orphans = [r for r in table if not r.workers]
    if orphans:
        names_text = ", ".join(f"{r.task} -> {r.queue}" for r in orphans)
        raise StackError(f"no worker group consumes the queue of: {names_text}")


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
