"""What `stack top`'s keys do to a running topology: drain or resume a worker group, purge
a queue. (Scaling is ops/scale.py.)

Draining asks the group's own nodes to cancel their consumers (Celery's cancel_consumer):
they finish what they hold and take nothing new, and the tasks wait in the broker; resume
is add_consumer for the group's queues, on the same nodes only, since a broadcast
add_consumer would start every worker on the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stack.deploy.ops.control import Control
from stack.deploy.ops.endpoints import host_urls
from stack.errors import StackError
from stack.topology.load import load


def group_nodes(control: Control, group: str, timeout: float = 1.0) -> list[str]:
    """The answering nodes of a group (GROUP@host), whatever they consume now."""
    with control.app.connection_for_write() as conn:
        replies = control.app.control.inspect(timeout=timeout, connection=conn).ping() or {}
    return sorted(node for node in replies if node.partition("@")[0] == group)


def consumers(
    control: Control,
    queues: Sequence[str],
    nodes: list[str],
    *,
    resume: bool = False,
    timeout: float = 2.0,
) -> None:
    """Tell nodes to stop (cancel_consumer) or start again (add_consumer) consuming queues,
    waiting up to timeout for each node's answer."""
    command = control.app.control.add_consumer if resume else control.app.control.cancel_consumer
    with control.app.connection_for_write() as conn:
        for queue in queues:
            command(queue, destination=nodes, connection=conn, reply=True, timeout=timeout,
                    limit=len(nodes))  # fmt: skip


def drain(path: str | Path | None, group: str, resume: bool = False) -> list[str]:
    """Stop (or restart) the group's consumers on each of its queues; the nodes told."""
    loaded = load(path, False)
    spec = loaded.topology.workers.get(group)
    if spec is None:
        raise StackError(f"no worker group '{group}' in {loaded.topology.name}")
    broker, _ = host_urls(loaded)
    with Control(loaded.topology, broker) as control:
        nodes = group_nodes(control, group)
        if not nodes:
            raise StackError(f"no worker of group '{group}' answers")
        consumers(control, spec.queues, nodes, resume=resume, timeout=2.0)
    return nodes


def purge(path: str | Path | None, queue: str) -> int:
    """Delete every message waiting in a queue (all its priority steps); how many."""
    loaded = load(path, False)
    if queue not in loaded.topology.all_queues:
        raise StackError(f"no queue '{queue}' in {loaded.topology.name}")
    broker, _ = host_urls(loaded)
    with Control(loaded.topology, broker) as control, control.app.connection_for_write() as conn:
        return int(conn.default_channel.queue_purge(queue) or 0)
