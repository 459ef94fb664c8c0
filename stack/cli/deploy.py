"""`stack deploy`: the topology on Kubernetes through the kit's Helm chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from stack.cli import output
from stack.errors import StackError

app = typer.Typer()


@app.command()
def build(
    file: Annotated[
        Path | None,
        typer.Argument(help="Topology file; default $STACK_FILE or ./topology.yaml."),
    ] = None,
    *,
    push: Annotated[bool, typer.Option("--push", help="Push it to the registry.")] = False,
    registry: Annotated[
        str | None,
        typer.Option(help="HOST[:PORT][/PATH]; default image.registry of the topology."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Build the app image as `stack up` does, tag it by content for the registry, push it."""
    import json

    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

    from stack.deploy.ops.publish import Layer
    from stack.deploy.ops.publish import build as build_image

    console = output.err()
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  console=console, transient=True) as bars:  # fmt: skip
        status = bars.add_task("building", total=None)
        tasks: dict[str, TaskID] = {}

        def on_layer(layer: Layer) -> None:
            if layer.id not in tasks:
                tasks[layer.id] = bars.add_task(f"layer {layer.id}", total=None)
            total = layer.total or None
            bars.update(tasks[layer.id], description=f"layer {layer.id}: {layer.status}",
                        completed=layer.current, total=total)  # fmt: skip

        built = build_image(
            file,
            push=push,
            registry=registry,
            status=lambda text: bars.update(status, description=text),
            progress=on_layer,
        )
    if as_json:
        data = {"reference": built.reference, "image": built.image_id, "built": built.built,
                "digest": built.digest}  # fmt: skip
        typer.echo(json.dumps(data))
        return
    what = "built" if built.built else "up to date"
    pinned = f"{built.reference.rpartition(':')[0]}@{built.digest}" if built.digest else None
    output.out().print(f"{built.reference} ({what}{', pushed' if built.digest else ''})")
    if pinned:
        output.out().print(f"digest: {pinned}")


@app.command()
def deploy(
    file: Annotated[
        Path | None,
        typer.Argument(help="Topology file; default $STACK_FILE or ./topology.yaml."),
    ] = None,
    *,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Kubernetes namespace.")
    ] = "default",
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the manifests instead; needs no cluster."),
    ] = False,
    release: Annotated[
        str | None, typer.Option(help="Helm release name; default the topology's name.")
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            help="Run the app image pushed there by `stack build --push` (default "
            "image.registry); without a registry the chart names the local tag."
        ),
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            help="helm: the Kubernetes release; swarm: services on the Swarm of the current "
            "Docker engine (DOCKER_HOST or context), which must be a manager."
        ),
    ] = "helm",
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a chart value, e.g. workers.red.replicas=3 (repeatable).",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="helm: wait until every object is ready (Swarm deploys always wait).",
        ),
    ] = False,
    timeout: Annotated[
        int | None,
        typer.Option(min=1, help="Seconds to wait; default 300.", show_default=False),
    ] = None,
    rollback_on_failure: Annotated[
        bool,
        typer.Option(
            "--rollback-on-failure",
            help="helm: undo a failed install or upgrade (implies --wait).",
        ),
    ] = False,
    create_namespace: Annotated[
        bool, typer.Option("--create-namespace", help="helm: create the namespace if missing.")
    ] = False,
) -> None:
    """Install or upgrade the topology as a Helm release (the chart ships with the kit)."""
    # Lazy: the model, the values models and Helm's native engine stay out of `stack --help`.
    from dataclasses import replace

    from stack.deploy import helm_engine
    from stack.deploy import services as plan
    from stack.deploy.ops.project import from_loaded
    from stack.deploy.ops.publish import cluster_image
    from stack.deploy.render import helm
    from stack.topology.load import discover, load

    if target not in ("helm", "swarm"):
        raise StackError(f"--target {target!r}: choose helm or swarm")
    loaded = load(discover(file))
    topology = loaded.topology
    for problem in loaded.warnings:
        output.problem(problem)
    if target == "swarm":
        helm_only = {
            "--dry-run": dry_run,
            "--set": bool(set_values),
            "--release": release is not None,
            "--namespace": namespace != "default",
            "--rollback-on-failure": rollback_on_failure,
            "--create-namespace": create_namespace,
        }
        ignored = [option for option, given in helm_only.items() if given]
        if ignored:
            raise StackError(f"{', '.join(ignored)}: for the Helm target only, not --target swarm")
        _deploy_swarm(from_loaded(loaded), registry, timeout=timeout or 300)
        return
    if dry_run and (wait or rollback_on_failure):
        raise StackError("--dry-run applies nothing: there is nothing to wait for")
    # A cluster pulls the topology's own images: STACK_*_IMAGE name this machine's copies.
    cluster = plan.images(topology, env={})
    # Checked before anything is applied: a cluster cannot pull what the registry lacks.
    pushed = cluster_image(from_loaded(loaded), registry)
    if pushed is not None:
        cluster = replace(cluster, app=pushed)
    values = helm.apply_overrides(helm.values(topology, cluster), set_values or [])
    name = release or topology.name
    rollout = helm_engine.Rollout(wait=wait, timeout=timeout,
                                  rollback_on_failure=rollback_on_failure,
                                  create_namespace=create_namespace)  # fmt: skip
    if not dry_run and (wait or rollback_on_failure):
        output.err().print(f"waiting up to {timeout or 300} s for release {name} to be ready")
    manifest = helm_engine.deploy(
        helm.chart_dir(), values, name, namespace, dry_run=dry_run, rollout=rollout
    )
    if dry_run:
        typer.echo(manifest, nl=not manifest.endswith("\n"))
        return
    typer.echo(f"Deployed release {name} to namespace {namespace}.")
    typer.echo(helm_engine.notes(helm.chart_dir(), values, name, namespace).strip())


def _deploy_swarm(project: Any, registry: str | None, *, timeout: float) -> None:
    from stack.deploy.ops.publish import cluster_image
    from stack.deploy.swarm import apply

    image = cluster_image(project, registry)
    if image is None:
        raise StackError(
            "Swarm nodes pull the app image from a registry: set image.registry or pass "
            "--registry, after `stack build --push`"
        )
    with output.err().status("deploying to Swarm") as spinner:
        done = apply.deploy(project, image, spinner.update, timeout=timeout)
    for line in done:
        output.out().print(line)
    output.out().print(f"{project.name} runs on Swarm ({len(done)} changes)")
