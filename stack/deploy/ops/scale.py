"""`stack scale GROUP=N`: add or remove replicas of worker groups while the stack runs.

Scaling does not edit the topology: the next `stack up` resets every group to the
topology's `replicas`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from stack.deploy.docker import client as docker_client
from stack.deploy.docker import labels, netns
from stack.deploy.docker.reconcile import SCALE, Change
from stack.deploy.ops.build import topology_hash
from stack.deploy.ops.endpoints import not_running, service_port
from stack.deploy.ops.project import Project, open_project
from stack.deploy.ops.ready import Readiness
from stack.deploy.ops.up import DEFAULT_TIMEOUT, converge
from stack.deploy.revision import app_revisions
from stack.errors import StackError


@dataclass(frozen=True)
class ScaleResult:
    replicas: dict[str, int]
    changes: list[Change]
    seconds: float


def parse(requests: list[str]) -> dict[str, int]:
    """["red=4", "blue=0"] -> {"red": 4, "blue": 0}; a clear error for anything else."""
    if not requests:
        raise StackError("nothing to scale: give GROUP=N, e.g. `stack scale red=4`")
    counts: dict[str, int] = {}
    for item in requests:
        group, sep, number = item.partition("=")
        if not sep or not group.strip() or not number.strip().isdigit():
            raise StackError(f"expected GROUP=N with N a whole number >= 0, got {item!r}")
        counts[group.strip()] = int(number)
    return counts


def check(project: Project, counts: dict[str, int]) -> None:
    groups = list(project.topology.workers)
    scalable = groups + (["beat"] if project.topology.beat else [])
    unknown = sorted(set(counts) - set(scalable))
    if unknown:
        raise StackError(
            f"unknown worker group {', '.join(map(repr, unknown))}: "
            f"the groups of {project.name} are {', '.join(scalable) or '(none)'}"
        )
    if counts.get("beat", 0) > 1:
        raise StackError(
            "beat runs as one replica at most: two would send every periodic task twice"
        )


def scale(
    path: str | Path | None,
    requests: list[str],
    timeout: float = DEFAULT_TIMEOUT,
    console: Console | None = None,
) -> ScaleResult:
    """Add replicas (each must answer a ping) or remove them (highest first, gracefully)."""
    started = time.monotonic()
    counts = parse(requests)
    project = open_project(path, full=False)
    check(project, counts)
    docker = docker_client.get()
    broker = project.topology.broker.type
    if broker != "url":
        service_port(project.topology, broker)  # raises "not running: run `stack up`"
    app_image = docker.image(project.images.app)
    if app_image is None:
        raise not_running(project.topology)
    services = [replace(s, replicas=counts[s.name]) for s in project.services if s.name in counts]
    holder = None
    if netns.needed(services):
        found = docker.containers(project.name, netns.SERVICE)
        holder = next((c for c in found if c.status == "running"), None)
        if holder is None:  # new replicas would have no network
            raise not_running(project.topology)
    # The new replicas run the image's topology. Unless that is the file's (not edited since
    # `stack up`), they are hashed by the image id, and the next `stack up` recreates them.
    code_hash = app_image.labels.get(labels.CODE_HASH)
    same = app_image.labels.get(labels.TOPOLOGY_HASH) == topology_hash(project)
    revisions = app_revisions(code_hash, project.topology, services) if code_hash and same else {}
    # After app_revisions, which imports kombu and Celery's schedules here (see ready.IMPORTS).
    readiness = Readiness(docker, project, console)
    readiness.prepare()
    ids = {project.images.app: str(app_image.id)}
    changes, waiting = converge(
        docker, project, services, ids=ids, revisions=revisions, policy=SCALE, holder=holder
    )
    readiness.wait(waiting, time.monotonic() + timeout, timeout)
    return ScaleResult(counts, changes, time.monotonic() - started)
