"""`stack ps`: services (running/desired replicas, health) and queues (depth, consumers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stack.deploy.docker import client as docker_client
from stack.deploy.docker import labels, netns
from stack.deploy.docker.client import Container, DockerClient
from stack.deploy.ops.control import Control
from stack.deploy.ops.endpoints import host_urls, masked
from stack.deploy.ops.project import Project, open_project
from stack.deploy.ops.ready import Readiness, node_name
from stack.deploy.ops.up import flower_url, metrics_url
from stack.deploy.roles import Role
from stack.errors import RuntimeStackError
from stack.settings.depths import read


def _health(container: Container, ready: set[str]) -> str | None:
    """Docker's health; "ready" while Docker has not probed yet (it probes every 30 s, and
    before Docker 25 not sooner) but the kit's own check of the container passed. The
    network namespace holder has nothing to probe: running is ready."""
    health = docker_client.health_of(container)
    if container.labels.get(labels.ROLE) == Role.NETNS:
        return "ready" if container.status == "running" else None
    if health == "starting" and container.name in ready:
        return "ready"
    return health


def _services(
    project: Project, containers: list[Container], ready: set[str]
) -> list[dict[str, Any]]:
    rows = []
    services = list(project.services)
    if netns.needed(services):
        services.append(netns.holder_service(project.topology, project.images))
    by_name = {s.name: s for s in services}
    by_service: dict[str | None, list[Container]] = {}  # one pass, not one per service
    for container in containers:
        by_service.setdefault(container.labels.get(labels.SERVICE), []).append(container)
    names = list(by_name)
    names += sorted({c.labels.get(labels.SERVICE, "") for c in containers} - set(names))
    for name in names:
        service = by_name.get(name)
        mine = by_service.get(name, [])
        boxes = [
            {
                "name": c.name,
                "state": c.status,
                "health": _health(c, ready),
                "replica": docker_client.replica_of(c),
            }
            for c in mine
        ]
        rows.append(
            {
                "name": name,
                "role": str(service.role) if service else mine[0].labels.get(labels.ROLE, ""),
                "desired": service.replicas if service else 0,
                "running": sum(1 for c in mine if c.status == "running"),
                "healthy": sum(1 for b in boxes if b["health"] in ("healthy", "ready")),
                "containers": boxes,
            }
        )
    return rows


def _worker_nodes(project: Project, containers: list[Container]) -> set[str]:
    """Celery node names of the stack's running worker replicas (GROUP@container name)."""
    nodes = set()
    for container in containers:
        service = project.service(container.labels.get(labels.SERVICE, ""))
        if service is not None and service.role == Role.WORKER and container.status == "running":
            nodes.add(node_name(service, container))
    return nodes


def _queues(
    project: Project, broker: str | None, nodes: set[str], every_worker: bool
) -> tuple[list[dict[str, Any]], bool, set[str]]:
    """nodes: the stack's running workers, asked what they consume; every_worker asks every
    worker on the broker, and the rows name those outside the stack. Also: whether the
    broker answered, and which nodes did."""
    queues = project.topology.all_queues
    depths: dict[str, int] = {}
    consumers: dict[str, list[str]] = {}
    answered = False
    if broker is not None:
        try:
            depths = {q: sum(steps.values()) for q, steps in read(broker, queues).pending.items()}
            answered = True
        except Exception:  # an unreachable broker: depths unknown, shown as null
            depths = {}
        try:
            with Control(project.topology, broker) as control:
                # The stack's own workers return as soon as all have answered; asking every
                # worker takes the whole window, since nobody knows how many will answer.
                consumers = control.active_queues(
                    timeout=1.0, nodes=None if every_worker else nodes
                )
        except Exception:  # no worker answering in time is not an error for ps
            consumers = {}
    groups = project.topology.consumer_groups()
    rows = [
        {
            "name": q,
            "depth": depths.get(q),
            "consumers": consumers.get(q, []),
            "outside": [n for n in consumers.get(q, []) if n not in nodes],
            "groups": list(groups.get(q, ())),
        }
        for q in queues
    ]
    return rows, answered, {n for names in consumers.values() for n in names}


def _ready(
    docker: DockerClient,
    project: Project,
    containers: list[Container],
    *,
    broker_answered: bool,
    nodes: set[str],
) -> set[str]:
    """Containers that Docker still calls "starting" but that pass the kit's own check, as
    `stack up` waits for them: the worker answered the control request, the broker or
    backend answers on its published port, Flower's /healthcheck answers, beat's ready
    file exists."""
    ready = set()
    probe = Readiness(docker, project, None)
    for container in containers:
        if docker_client.health_of(container) != "starting":
            continue
        service = project.service(container.labels.get(labels.SERVICE, ""))
        if service is None:
            continue
        if service.role == Role.WORKER:
            ok = node_name(service, container) in nodes
        elif service.role == Role.BROKER and broker_answered:
            ok = True
        else:
            ok = probe.check(service, container)
        if ok:
            ready.add(container.name)
    return ready


def status(path: str | Path | None = None, every_worker: bool = False) -> dict[str, Any]:
    """Everything `stack ps` shows, as JSON-ready data without any secret.

    every_worker: list consumers from outside the stack too (a worker started by hand, or
    one left from an older deployment, running older code on the stack's queues).
    """
    project = open_project(path, full=False)
    docker = docker_client.get()
    try:
        broker, backend = host_urls(project.loaded)
    except RuntimeStackError:
        broker, backend = None, None
    containers = docker.containers(project.name)
    queues, answered, nodes = _queues(
        project, broker, _worker_nodes(project, containers), every_worker
    )
    ready = _ready(docker, project, containers, broker_answered=answered, nodes=nodes)
    return {
        "project": project.name,
        "broker": masked(broker),
        "backend": masked(backend),
        "flower": flower_url(docker, project),
        "metrics": metrics_url(docker, project),
        "services": _services(project, containers, ready),
        "queues": queues,
    }
