"""What Swarm's records of a stack's services and tasks say, for `stack ps`, `top` and
`logs`: pure, unit-tested with the Engine API's dicts; stack/deploy/swarm/apply.py asks
the engine for them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The prefix of a service log line asked for with details: key=value pairs, one space.
_TASK_KEY = b"com.docker.swarm.task.id="


@dataclass(frozen=True)
class Replicas:
    """A worker group's service: its running and desired replicas, and the Celery node
    names of the running ones."""

    running: int
    desired: int
    nodes: frozenset[str]


def live(tasks: Iterable[Mapping[str, Any]], ready: set[str]) -> list[Mapping[str, Any]]:
    """The tasks that run on a node that is up: a lost node's tasks stay "running" in the
    manager's records while Swarm starts their replacements elsewhere."""
    return [
        t for t in tasks
        if t.get("DesiredState") == "running" and t["Status"]["State"] == "running"
        and t.get("NodeID") in ready
    ]  # fmt: skip


def desired(attrs: Mapping[str, Any]) -> int | None:
    """A service's wanted replicas; None for a global service."""
    count = attrs["Spec"]["Mode"].get("Replicated", {}).get("Replicas")
    return None if count is None else int(count)


def container_id(task: Mapping[str, Any]) -> str | None:
    found = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
    return str(found) if found else None


def worker_node(group: str, task: Mapping[str, Any]) -> str | None:
    """The Celery node name of a worker task, GROUP@%h: a task's container is named by
    Docker's default hostname, the container id's first 12 digits (the plan sets none)."""
    found = container_id(task)
    return None if found is None else f"{group}@{found[:12]}"


def replicas(group: str, attrs: Mapping[str, Any], running: list[Mapping[str, Any]]) -> Replicas:
    """A group's figures from its service and its live tasks (as live() keeps them)."""
    nodes = {n for n in (worker_node(group, t) for t in running) if n is not None}
    return Replicas(len(running), desired(attrs) or 0, frozenset(nodes))


def container_here(tasks: list[Mapping[str, Any]], here: str) -> tuple[str | None, str]:
    """(the container of a live task on node here, or why there is none): an engine execs
    only in its own node's containers."""
    if not tasks:
        return None, "not running"
    for task in tasks:
        found = container_id(task)
        if task.get("NodeID") == here and found is not None:
            return found, ""
    return None, "runs on another node than the engine's"


def task_names(service: str, tasks: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """task id -> its name as Swarm shows it, SERVICE.SLOT."""
    return {str(t["ID"]): f"{service}.{t['Slot']}" for t in tasks if t.get("Slot") is not None}


def split_details(line: bytes, names: Mapping[str, str], service: str) -> tuple[str, str]:
    """(task name, text) of a service log line asked for with details; a task started
    after the names were read is SERVICE.ID (its first 12 characters)."""
    details, space, text = line.partition(b" ")
    if not space or _TASK_KEY not in details:
        return service, line.decode("utf-8", "replace")
    task = next(
        p.partition(b"=")[2].decode() for p in details.split(b",") if p.startswith(_TASK_KEY)
    )
    return names.get(task, f"{service}.{task[:12]}"), text.decode("utf-8", "replace")
