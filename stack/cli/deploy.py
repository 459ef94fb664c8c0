"""`stack deploy`: the topology on Kubernetes through the kit's Helm chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stack.cli import output

app = typer.Typer()


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
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a chart value, e.g. workers.red.replicas=3 (repeatable).",
        ),
    ] = None,
) -> None:
    """Install or upgrade the topology as a Helm release (the chart ships with the kit)."""
    # Lazy: the model, the values models and Helm's native engine stay out of `stack --help`.
    from stack.deploy import helm_engine
    from stack.deploy import services as plan
    from stack.deploy.render import helm
    from stack.topology.load import discover, load

    loaded = load(discover(file))
    topology = loaded.topology
    for problem in loaded.warnings:
        output.problem(problem)
    # A cluster pulls the topology's own images: STACK_*_IMAGE name this machine's copies.
    cluster = plan.images(topology, env={})
    values = helm.apply_overrides(helm.values(topology, cluster), set_values or [])
    name = release or topology.name
    manifest = helm_engine.deploy(helm.chart_dir(), values, name, namespace, dry_run=dry_run)
    if dry_run:
        typer.echo(manifest, nl=not manifest.endswith("\n"))
        return
    typer.echo(f"Deployed release {name} to namespace {namespace}.")
    typer.echo(helm_engine.notes(helm.chart_dir(), values, name, namespace).strip())
