"""`stack top`: one snapshot of a running topology, per worker group and per queue.

`snapshot()` is pure: it turns what the engine, the broker and the workers said into rows
(unit-tested with data). `observe()` is the edge that asks them. Everything here works with
task events off: depths come from the broker, reserved and running tasks from `inspect`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.settings.deadletter import DEAD_QUEUE
from stack.topology.model import Topology

# kombu's Redis transport: priority steps 0 (the queue's own list), 3, 6 and 9
# ("{queue}\x06\x16{step}"); RabbitMQ keeps priorities inside one queue (step 0).
REDIS_SEP = "\x06\x16"
REDIS_STEPS = (0, 3, 6, 9)


def redis_key(queue: str, step: int) -> str:
    return queue if step == 0 else f"{queue}{REDIS_SEP}{step}"


@dataclass(frozen=True)
class Observed:
    """What the edge gathered: replicas per group, pending per queue and priority step,
    and each answering worker's queues, reserved and running task counts."""

    replicas: Mapping[str, tuple[int, int]]  # group -> (running, desired)
    pending: Mapping[str, Mapping[int, int]] | None  # None: the broker did not answer
    queues_of: Mapping[str, list[str]]  # node -> queues it consumes
    reserved: Mapping[str, int] = field(default_factory=dict)  # node -> prefetched tasks
    active: Mapping[str, int] = field(default_factory=dict)  # node -> running tasks
    own_nodes: frozenset[str] = frozenset()  # the stack's running worker replicas


def group_of(node: str, topology: Topology) -> str | None:
    """The worker group of a node named GROUP@host by the kit; None for any other."""
    group = node.partition("@")[0]
    return group if group in topology.workers else None


def snapshot(topology: Topology, seen: Observed) -> dict[str, Any]:
    """The rows `stack top` shows, JSON-ready."""
    ours = {n for n in seen.queues_of if n in seen.own_nodes}
    groups = []
    for name, group in topology.workers.items():
        nodes = sorted(n for n in ours if group_of(n, topology) == name)
        running, desired = seen.replicas.get(name, (0, group.replicas))
        groups.append(
            {
                "name": name,
                "up": running,
                "desired": desired,
                "answering": len(nodes),
                "queues": list(group.queues),
                "consuming": sorted({q for n in nodes for q in seen.queues_of[n]}),
                "reserved": sum(seen.reserved.get(n, 0) for n in nodes),
                "active": sum(seen.active.get(n, 0) for n in nodes),
            }
        )
    expected = topology.consumer_groups()
    queues = []
    for queue in topology.all_queues:
        steps = None if seen.pending is None else dict(seen.pending.get(queue, {}))
        consumers = sorted(n for n, names in seen.queues_of.items() if queue in names)
        queues.append(
            {
                "name": queue,
                "pending": None if steps is None else sum(steps.values()),
                "by_priority": steps,
                "consumers": consumers,
                "groups": list(expected.get(queue, ())),
            }
        )
    dead = None if seen.pending is None else sum(seen.pending.get(DEAD_QUEUE, {}).values())
    drift = [
        {"node": node, "queues": sorted(seen.queues_of[node])}
        for node in sorted(set(seen.queues_of) - seen.own_nodes)
    ]
    return {"project": topology.name, "groups": groups, "queues": queues,
            "dead_letters": dead, "drift": drift}  # fmt: skip


def counts(replies: Mapping[str, Any] | None) -> dict[str, int]:
    """node -> number of tasks, from an `inspect reserved` or `inspect active` reply."""
    return {node: len(tasks or []) for node, tasks in (replies or {}).items()}


def queue_names(replies: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """node -> queue names, from an `inspect active_queues` reply."""
    return {
        node: [str(q["name"]) for q in queues or []] for node, queues in (replies or {}).items()
    }


def observe(path: str | Path | None, timeout: float = 1.0) -> dict[str, Any]:
    """Ask the engine, the broker and every worker on it; the snapshot of what they said."""
    from stack.deploy.docker import client as docker_client
    from stack.deploy.docker import labels
    from stack.deploy.ops.control import Control
    from stack.deploy.ops.endpoints import host_urls
    from stack.deploy.ops.project import open_project
    from stack.deploy.ops.ready import node_name

    project = open_project(path, full=False)
    topology = project.topology
    broker, _ = host_urls(project.loaded)
    containers = docker_client.get().containers(project.name)
    replicas: dict[str, tuple[int, int]] = {}
    own: set[str] = set()
    for name in topology.workers:
        service = project.service(name)
        assert service is not None  # every worker group is a service of the plan
        mine = [
            c for c in containers
            if c.labels.get(labels.SERVICE) == name and c.status == "running"
        ]  # fmt: skip
        replicas[name] = (len(mine), service.replicas)
        own |= {node_name(service, c) for c in mine}
    try:
        pending: dict[str, dict[int, int]] | None = broker_pending(
            broker, [*topology.all_queues, DEAD_QUEUE]
        )
    except Exception:  # an unreachable broker: pending unknown, shown as null
        pending = None
    with Control(topology, broker) as control:
        replies = control.inspect_every(("active_queues", "reserved", "active"), timeout)
    seen = Observed(
        replicas=replicas,
        pending=pending,
        queues_of=queue_names(replies["active_queues"]),
        reserved=counts(replies["reserved"]),
        active=counts(replies["active"]),
        own_nodes=frozenset(own),
    )
    return snapshot(topology, seen)


def broker_pending(broker: str, queues: list[str]) -> dict[str, dict[int, int]]:
    """queue -> priority step -> messages waiting, as the broker itself counts them."""
    if broker.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(broker, socket_connect_timeout=2, socket_timeout=2)
        try:
            with client.pipeline(transaction=False) as pipe:
                for queue in queues:
                    for step in REDIS_STEPS:
                        pipe.llen(redis_key(queue, step))
                lengths = iter(pipe.execute())
            return {q: {step: int(next(lengths)) for step in REDIS_STEPS} for q in queues}
        finally:
            client.close()
    from stack.deploy.ops.status import amqp_depths

    return {q: {0: n} for q, n in amqp_depths(broker, queues).items()}
