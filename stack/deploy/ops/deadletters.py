"""`stack requeue`: send the dead letters (container/deliveries.py) back where they came from.

Each goes back to the queue it was delivered from (by the default exchange), with its
delivery count gone, so it gets max_deliveries deliveries again; it is acknowledged in the
dead-letter queue only once it was published.
"""

from __future__ import annotations

from pathlib import Path
from queue import Empty

from stack.deploy.ops.control import Control
from stack.deploy.ops.endpoints import host_urls
from stack.settings.deadletter import (
    HEADER,
    ORIGIN_EXCHANGE,
    ORIGIN_ROUTING_KEY,
    dead_queue,
    republish,
)
from stack.topology.load import load


def requeue(path: str | Path | None, limit: int | None = None) -> dict[str, int]:
    """Move up to limit (None: every) dead letter back; routing key -> how many."""
    loaded = load(path, False)
    broker, _ = host_urls(loaded)
    moved: dict[str, int] = {}
    with (
        Control(loaded.topology, broker) as control,
        control.app.connection_for_write() as conn,
    ):
        letters = conn.SimpleQueue(dead_queue(), no_ack=False)
        try:
            while limit is None or sum(moved.values()) < limit:
                try:
                    message = letters.get(block=False)
                except Empty:
                    break
                headers = dict(message.headers or {})
                exchange = str(headers.pop(ORIGIN_EXCHANGE, ""))
                routing_key = str(headers.pop(ORIGIN_ROUTING_KEY, ""))
                headers.pop(HEADER, None)
                republish(control.app, message, exchange=exchange, routing_key=routing_key,
                          headers=headers)  # fmt: skip
                message.ack()
                moved[routing_key] = moved.get(routing_key, 0) + 1
        finally:
            letters.close()
    return moved
