"""Commands that run the topology on Docker: up, scale, ps, logs, down, send.

Docker and Celery are imported inside each command, so `stack --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from stack.cli import output

app = typer.Typer()

FileArg = Annotated[
    Path | None,
    typer.Argument(
        help="Topology file; default $STACK_FILE, else ./topology.yaml.", show_default=False
    ),
]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file", "-f", help="Topology file; default $STACK_FILE, else ./topology.yaml.",
        show_default=False,
    ),
]  # fmt: skip
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for every replica to be ready.")
]


@app.command()
def up(file: FileArg = None, timeout: TimeoutOpt = 120.0) -> None:
    """Build the app image, start what is missing, recreate what changed, wait until ready.

    Replicas come from the topology: this resets any `stack scale`.
    """
    from rich.table import Table

    from stack.deploy.ops.up import up as run_up

    result = run_up(file, timeout=timeout, console=output.err())
    counts = ", ".join(
        f"{result.count(a)} {a}" for a in ("created", "recreated", "removed", "unchanged")
    )
    built = "image built; " if result.image_built else ""
    output.out().print(f"{result.project} is up in {result.seconds:.1f} s ({built}{counts})")
    table = Table("service", "role", "replicas", box=None, pad_edge=False)
    for name, role, replicas in result.services:
        table.add_row(name, role, str(replicas))
    output.out().print(table)
    if result.flower_url:
        output.out().print(
            f"Flower: {result.flower_url}  user [bold]{result.flower_user}[/], "
            f"password: FLOWER_PASSWORD in {result.secrets_file}"
        )
    if result.metrics_url:
        output.out().print(f"Metrics: {result.metrics_url}")


def _on_swarm(file: Path | None) -> str | None:
    """The project's name if its services run on the Swarm of the current engine."""
    from stack.deploy.swarm.apply import on_swarm
    from stack.topology.load import load

    loaded = load(file, False)
    return loaded.topology.name if on_swarm(loaded) else None


@app.command()
def scale(
    groups: Annotated[list[str], typer.Argument(help="GROUP=N pairs, e.g. red=4 blue=0.")],
    file: FileOpt = None,
    timeout: TimeoutOpt = 120.0,
) -> None:
    """Add or remove replicas of worker groups while the stack runs.

    New replicas answer a ping before this returns; removed ones (highest numbers first)
    get their group's grace period to finish running tasks. The next `stack up` resets
    every group to the topology's replicas.
    """
    from stack.deploy.ops.scale import scale as run_scale

    swarm_project = _on_swarm(file)
    if swarm_project is not None:
        from stack.deploy.ops.project import open_project
        from stack.deploy.ops.scale import check, parse
        from stack.deploy.swarm import apply

        wanted = parse(groups)
        check(open_project(file, full=False), wanted)  # no second beat, no unknown group
        with output.err().status("scaling") as spinner:
            apply.scale(swarm_project, wanted, spinner.update, timeout=timeout)
        summary = ", ".join(f"{group}={n}" for group, n in wanted.items())
        output.out().print(f"scaled {summary} on Swarm")
        return
    result = run_scale(file, groups, timeout=timeout, console=output.err())
    for change in result.changes:
        if change.action != "unchanged":
            output.out().print(f"{change.action} {change.container}")
    summary = ", ".join(f"{group}={n}" for group, n in result.replicas.items())
    output.out().print(f"scaled {summary} in {result.seconds:.1f} s")


@app.command()
def ps(
    file: FileArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    all_consumers: Annotated[
        bool,
        typer.Option(
            "--all-consumers",
            help="Also list workers outside the stack that consume its queues (takes ~1 s).",
        ),
    ] = False,
) -> None:
    """Services (running/desired replicas, health) and queues (depth, consuming nodes)."""
    from stack.deploy.ops.status import status

    swarm_project = _on_swarm(file)
    if swarm_project is not None:
        from stack.deploy.swarm import apply

        rows = apply.status(swarm_project)
        if as_json:
            output.out().print_json(json.dumps({"project": swarm_project, "swarm": rows}))
            return
        from rich.table import Table

        table = Table("service", "role", "running", "desired", "nodes",
                      title=f"{swarm_project}: Swarm services")  # fmt: skip
        for row in rows:
            table.add_row(row["service"], row["role"], str(row["running"]), str(row["desired"]),
                          ", ".join(row["nodes"]) or "-")  # fmt: skip
        output.out().print(table)
        return
    data = status(file, every_worker=all_consumers)
    if as_json:
        output.out().print_json(json.dumps(data))
        return
    _print_status(data)


def _print_status(data: dict[str, Any]) -> None:
    from rich.table import Table

    services = Table("service", "role", "running", "desired", "healthy", "containers",
                     title=f"{data['project']}: services")  # fmt: skip
    for s in data["services"]:
        boxes = ", ".join(f"{c['name']} ({c['health'] or c['state']})" for c in s["containers"])
        services.add_row(s["name"], s["role"], str(s["running"]), str(s["desired"]),
                         str(s["healthy"]), boxes or "-")  # fmt: skip
    output.out().print(services)
    queues = Table("queue", "depth", "consumers", "groups", title=f"{data['project']}: queues")
    for q in data["queues"]:
        depth = "?" if q["depth"] is None else str(q["depth"])
        consumers = ", ".join(q["consumers"]) or "-"
        if q["outside"]:
            consumers += f" ({len(q['outside'])} outside the stack: {', '.join(q['outside'])})"
        queues.add_row(q["name"], depth, consumers, ", ".join(q["groups"]))
    output.out().print(queues)
    output.out().print(f"broker: {data['broker'] or 'not running'}")
    if data["flower"]:
        output.out().print(f"flower: {data['flower']}")
    if data.get("metrics"):
        output.out().print(f"metrics: {data['metrics']}")


@app.command()
def logs(
    service: Annotated[
        str | None, typer.Argument(help="One service (worker group, beat, redis, ...).")
    ] = None,
    file: FileOpt = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing new lines.")] = False,
    tail: Annotated[
        int | None, typer.Option("--tail", "-n", help="Last N lines of each container.")
    ] = None,
) -> None:
    """Logs of every replica (or one service's), each line prefixed by its container (on
    Swarm: its task)."""
    from stack.deploy.ops.logs import logs as read_logs

    swarm_project = _on_swarm(file)
    if swarm_project is not None:
        from stack.deploy.swarm import apply

        lines = apply.logs(swarm_project, service, tail, follow=follow)
    else:
        lines = read_logs(file, service, follow=follow, tail=tail)
    try:
        for name, line in lines:
            output.out().print(f"[cyan]{name}[/] | ", end="")
            output.out().print(line, markup=False)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
def down(
    file: FileArg = None,
    volumes: Annotated[
        bool, typer.Option("--volumes", "-v", help="Also remove the data volumes.")
    ] = False,
) -> None:
    """Stop (with each service's grace period) and remove the project's containers and
    network, found by label; with --volumes, its volumes too."""
    from stack.deploy.ops.down import down as run_down

    swarm_project = _on_swarm(file)
    if swarm_project is not None:
        from stack.deploy.swarm import apply
        from stack.topology.load import load

        with output.err().status("stack down") as spinner:
            removed = apply.down(swarm_project, spinner.update, volumes=volumes)
        apply.marker(load(file, False)).unlink(missing_ok=True)
    else:
        removed = run_down(file, volumes=volumes)
    for item in removed:
        output.out().print(f"removed {item}")
    if not removed:
        output.out().print("nothing to remove")


@app.command()
def send(
    task: Annotated[str, typer.Argument(help="Task name, e.g. tasks.add.")],
    *,
    file: FileOpt = None,
    args: Annotated[str | None, typer.Option("--args", help="JSON array.")] = None,
    kwargs: Annotated[str | None, typer.Option("--kwargs", help="JSON object.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the state and result.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Send a task from this machine through the topology's routes."""
    from stack.deploy.ops.send import send as run_send

    sent = run_send(file, task, args, kwargs, wait=wait, timeout=timeout)
    if as_json:
        output.out().print_json(json.dumps(sent.as_dict()))
        return
    output.out().print(f"sent {task} id={sent.id} queue={sent.queue}")
    if wait:
        output.out().print(f"state={sent.state} result=", end="")
        output.out().print(json.dumps(sent.result), markup=False)


@app.command()
def wheels(
    file: FileArg = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Directory; default $STACK_WHEELHOUSE.", show_default=False
        ),
    ] = None,
) -> None:
    """Download the app's requirements (and the kit's) as wheels for the app image's Python
    and platform into the offline wheelhouse, checked by an install in the image with no
    network."""
    from stack.deploy.wheels import fetch_for

    with output.err().status("stack wheels") as spinner:
        fetched = fetch_for(file, out, status=spinner.update)
    added = f": added {', '.join(fetched.added)}" if fetched.added else ": nothing new"
    output.out().print(
        f"{fetched.directory}: {fetched.total} wheels for {fetched.target}{added}", markup=False
    )
