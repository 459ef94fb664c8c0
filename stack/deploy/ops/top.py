"""`stack top`: one snapshot of a running topology, per worker group and per queue.

`snapshot()` is pure: it turns what the engine, the broker and the workers said into rows
(unit-tested with data). `observe()` is the edge that asks them. Everything here works with
task events off: depths and the oldest message's age come from the broker, reserved and
running tasks from `inspect`, task outcomes and runtimes from the kit's `stack_outcomes`
inspect command (container/outcomes.py), beat's runs from beat's container. On Swarm,
replicas come from the services over every node, and beat's runs only where its task runs
on the engine's own node (unknown otherwise: an engine execs only in its own containers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.container.observed import quantile
from stack.settings.deadletter import DEAD_QUEUE
from stack.settings.depths import MANAGEMENT_PORT, Depths, management_url, read, redis_key
from stack.topology.model import Topology

__all__ = ["Observed", "counts", "observe", "queue_names", "redis_key", "snapshot"]


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
    oldest: Mapping[str, float | None] = field(default_factory=dict)  # queue -> age, s
    outcomes: Mapping[str, Any] = field(default_factory=dict)  # node -> stack_outcomes reply
    beat: Mapping[str, Mapping[str, float | None]] | None = None  # entry -> last/next run
    beat_unknown: str | None = None  # why beat's runs could not be read (Swarm)


def group_of(node: str, topology: Topology) -> str | None:
    """The worker group of a node named GROUP@host by the kit; None for any other."""
    group = node.partition("@")[0]
    return group if group in topology.workers else None


def outcome_figures(replies: list[Any]) -> dict[str, Any]:
    """A group's tasks/s and failures over the last minute, runtime p50/p95 (seconds) and
    totals, from its nodes' stack_outcomes replies (a reply that is not one counts none)."""
    reports = [r for r in replies if isinstance(r, dict) and "totals" in r]
    done = failed = 0
    rates = 0.0
    runtimes: list[float] = []
    totals: dict[str, int] = {}
    for report in reports:
        last = report.get("last_minute", {})
        finished = int(last.get("succeeded", 0)) + int(last.get("failed", 0))
        done += finished
        failed += int(last.get("failed", 0))
        rates += finished / max(1.0, float(report.get("window") or 0))
        runtimes += [float(r) for r in report.get("runtimes", ())]
        for kind, n in report["totals"].items():
            totals[kind] = totals.get(kind, 0) + int(n)
    return {
        "rate": round(rates, 2) if reports else None,
        "done_last_minute": done if reports else None,
        "failed_last_minute": failed if reports else None,
        "p50": quantile(runtimes, 0.5),
        "p95": quantile(runtimes, 0.95),
        "totals": totals,
    }


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
                **outcome_figures([seen.outcomes.get(n) for n in nodes]),
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
                "oldest": None if steps is None else seen.oldest.get(queue),
                "consumers": consumers,
                "groups": list(expected.get(queue, ())),
            }
        )
    dead = None if seen.pending is None else sum(seen.pending.get(DEAD_QUEUE, {}).values())
    drift = [
        {"node": node, "queues": sorted(seen.queues_of[node])}
        for node in sorted(set(seen.queues_of) - seen.own_nodes)
    ]
    beat = None
    if seen.beat is not None:
        beat = [{"entry": name, **dict(times)} for name, times in sorted(seen.beat.items())]
    return {"project": topology.name, "groups": groups, "queues": queues, "dead_letters": dead,
            "beat": beat, "beat_unknown": seen.beat_unknown, "drift": drift}  # fmt: skip


def counts(replies: Mapping[str, Any] | None) -> dict[str, int]:
    """node -> number of tasks, from an `inspect reserved` or `inspect active` reply."""
    return {node: len(tasks or []) for node, tasks in (replies or {}).items()}


def queue_names(replies: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """node -> queue names, from an `inspect active_queues` reply."""
    return {
        node: [str(q["name"]) for q in queues or []] for node, queues in (replies or {}).items()
    }


def observe(path: str | Path | None, timeout: float = 1.0) -> dict[str, Any]:
    """Ask the engine (or the Swarm it manages), the broker and every worker on it; the
    snapshot of what they said."""
    from stack.deploy.ops.control import Control
    from stack.deploy.ops.endpoints import host_urls
    from stack.deploy.ops.project import open_project
    from stack.deploy.swarm.apply import on_swarm

    project = open_project(path, full=False)
    topology = project.topology
    broker, _ = host_urls(project.loaded)
    swarm = on_swarm(project.loaded)
    engine = _swarm(project) if swarm else _engine(project)
    try:
        depths = read_depths(project, broker, [*topology.all_queues, DEAD_QUEUE], swarm=swarm)
    except Exception:  # an unreachable broker: pending unknown, shown as null
        depths = None
    with Control(topology, broker) as control:
        methods = ("active_queues", "reserved", "active", "stack_outcomes")
        replies = control.inspect_every(methods, timeout)
    seen = Observed(
        replicas=engine.replicas,
        pending=None if depths is None else depths.pending,
        queues_of=queue_names(replies["active_queues"]),
        reserved=counts(replies["reserved"]),
        active=counts(replies["active"]),
        own_nodes=engine.own_nodes,
        oldest={} if depths is None else depths.oldest,
        outcomes=replies["stack_outcomes"],
        beat=engine.beat,
        beat_unknown=engine.beat_unknown,
    )
    return snapshot(topology, seen)


@dataclass(frozen=True)
class _Engine:
    """What the engine said: replicas per group, the stack's worker nodes, beat's runs."""

    replicas: dict[str, tuple[int, int]]
    own_nodes: frozenset[str]
    beat: dict[str, Any] | None
    beat_unknown: str | None = None


def _engine(project: Any) -> _Engine:
    """The stack's containers on this engine."""
    from stack.deploy.docker import client as docker_client
    from stack.deploy.docker import labels
    from stack.deploy.ops.ready import node_name

    containers = docker_client.get().containers(project.name)
    replicas: dict[str, tuple[int, int]] = {}
    own: set[str] = set()
    for name in project.topology.workers:
        service = project.service(name)
        assert service is not None  # every worker group is a service of the plan
        mine = [
            c for c in containers
            if c.labels.get(labels.SERVICE) == name and c.status == "running"
        ]  # fmt: skip
        replicas[name] = (len(mine), service.replicas)
        own |= {node_name(service, c) for c in mine}
    return _Engine(replicas, frozenset(own), beat_state(project, containers))


def _swarm(project: Any) -> _Engine:
    """The stack's services on the Swarm: replicas over every node, as `stack ps` counts
    them; beat's runs only where its task runs on this engine's node (exec is local)."""
    from stack.container import paths
    from stack.container.beatstate import STATE_FILE
    from stack.deploy.swarm import apply

    topology = project.topology
    found = apply.workers(project.name, topology.workers)
    replicas = {
        name: (found[name].running, found[name].desired) if name in found
        else (0, group.replicas)
        for name, group in topology.workers.items()
    }  # fmt: skip
    own = frozenset(n for r in found.values() for n in r.nodes)
    services = beat_services(topology)
    if not services:
        return _Engine(replicas, own, None)
    text, why = apply.read_file(project.name, services, f"{paths.STATE_DIR}/{STATE_FILE}")
    if text is None:
        return _Engine(replicas, own, None, f"beat {why}")
    return _Engine(replicas, own, beat_entries(text))


def read_depths(project: Any, broker: str, queues: list[str], *, swarm: bool = False) -> Depths:
    """The broker's depths; on RabbitMQ, ages through its management API where it runs."""
    from stack.deploy.ops.endpoints import host_address, management_port
    from stack.errors import RuntimeStackError

    management = None
    if broker.startswith("amqp") and swarm:
        from stack.deploy.swarm.apply import published

        try:
            host, port = published(project.name, "rabbitmq", MANAGEMENT_PORT)
            management = management_url(broker, host, port)
        except RuntimeStackError:  # not published: ages unknown
            pass
    elif broker.startswith("amqp"):
        found = management_port(project.topology)
        if found is not None:
            management = management_url(broker, host_address(project.topology), found)
    return read(broker, queues, management)


def beat_services(topology: Topology) -> set[str]:
    """The services that run beat: beat's own, and groups that embed it."""
    runs_beat = {"beat"} if topology.beat else set()
    return runs_beat | {name for name, g in topology.workers.items() if g.embed_beat}


def beat_entries(text: str | None) -> dict[str, Any] | None:
    """The entries of beat's state file; None before beat wrote one."""
    import json

    try:
        entries = json.loads(text or "").get("entries")
    except (ValueError, AttributeError):
        return None
    return entries if isinstance(entries, dict) else None


def beat_state(project: Any, containers: list[Any]) -> dict[str, Any] | None:
    """Beat's entries' last and next runs, as its container last wrote them; None where
    the topology runs no beat or it wrote nothing yet."""
    from stack.container import paths
    from stack.container.beatstate import STATE_FILE
    from stack.deploy.docker import client as docker_client
    from stack.deploy.docker import labels

    runs_beat = beat_services(project.topology)
    for container in containers:
        if container.status == "running" and container.labels.get(labels.SERVICE) in runs_beat:
            text = docker_client.get().exec_output(
                container, ["cat", f"{paths.STATE_DIR}/{STATE_FILE}"]
            )
            entries = beat_entries(text)
            if entries is not None:
                return entries
    return None
