"""`stack ps`: services (running/desired replicas, health) and queues (depth, consumers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RuntimeStackError
from . import docker_client, labels
from .control import Control
from .docker_client import Container
from .endpoints import host_urls, masked
from .project import Project, open_project
from .ready import node_name
from .up import flower_url

# kombu's Redis transport keeps priorities 3, 6 and 9 in keys "{queue}\x06\x16{priority}".
REDIS_PRIORITY_SEP = "\x06\x16"
REDIS_PRIORITIES = (3, 6, 9)


def _services(project: Project, containers: list[Container]) -> list[dict[str, Any]]:
    rows = []
    names = [s.name for s in project.services]
    names += sorted({c.labels.get(labels.SERVICE, "") for c in containers} - set(names))
    for name in names:
        service = project.service(name)
        mine = [c for c in containers if c.labels.get(labels.SERVICE) == name]
        boxes = [
            {
                "name": c.name,
                "state": c.status,
                "health": docker_client.health_of(c),
                "replica": docker_client.replica_of(c),
            }
            for c in mine
        ]
        rows.append(
            {
                "name": name,
                "role": service.role if service else mine[0].labels.get(labels.ROLE, ""),
                "desired": service.replicas if service else 0,
                "running": sum(1 for c in mine if c.status == "running"),
                "healthy": sum(1 for b in boxes if b["health"] == "healthy"),
                "containers": boxes,
            }
        )
    return rows


def _redis_depths(url: str, queues: list[str]) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        depths = {}
        for queue in queues:
            keys = [queue] + [f"{queue}{REDIS_PRIORITY_SEP}{p}" for p in REDIS_PRIORITIES]
            depths[queue] = sum(int(client.llen(key)) for key in keys)
        return depths
    finally:
        client.close()


def _amqp_depths(url: str, queues: list[str]) -> dict[str, int]:
    from amqp.exceptions import NotFound  # type: ignore[import-untyped]
    from kombu.connection import Connection

    depths = {}
    with Connection(url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
        for queue in queues:
            channel = conn.channel()
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except NotFound:
                depths[queue] = 0  # not declared yet: no worker consumed, nothing sent
            finally:
                channel.close()
    return depths


def _worker_nodes(project: Project, containers: list[Container]) -> set[str]:
    """Celery node names of the stack's running worker replicas (GROUP@container name)."""
    nodes = set()
    for container in containers:
        service = project.service(container.labels.get(labels.SERVICE, ""))
        if service is not None and service.role == "worker" and container.status == "running":
            nodes.add(node_name(service, container))
    return nodes


def _queues(
    project: Project, broker: str | None, nodes: set[str], every_worker: bool
) -> list[dict[str, Any]]:
    """nodes: the stack's running workers, asked what they consume; every_worker asks every
    worker on the broker, and the rows name those outside the stack."""
    queues = project.topology.all_queues
    depths: dict[str, int] = {}
    consumers: dict[str, list[str]] = {}
    if broker is not None:
        try:
            if broker.startswith(("redis://", "rediss://")):
                depths = _redis_depths(broker, queues)
            else:
                depths = _amqp_depths(broker, queues)
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
    return [
        {
            "name": q,
            "depth": depths.get(q),
            "consumers": consumers.get(q, []),
            "outside": [n for n in consumers.get(q, []) if n not in nodes],
            "groups": project.topology.consumers(q),
        }
        for q in queues
    ]


def status(path: str | Path | None = None, every_worker: bool = False) -> dict[str, Any]:
    """Everything `stack ps` shows, as JSON-ready data without any secret.

    every_worker: list consumers from outside the stack too (a worker started by hand, or
    one left from an older deployment, running older code on the stack's queues).
    """
    project = open_project(path)
    docker = docker_client.get()
    try:
        broker, backend = host_urls(project.loaded)
    except RuntimeStackError:
        broker, backend = None, None
    containers = docker.containers(project.name)
    return {
        "project": project.name,
        "broker": masked(broker),
        "backend": masked(backend),
        "flower": flower_url(docker, project),
        "services": _services(project, containers),
        "queues": _queues(project, broker, _worker_nodes(project, containers), every_worker),
    }
