"""Runtime guards for Celery's known traps, installed with the topology's settings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from .model import Topology

log = logging.getLogger("stack.guards")


def eta_seconds(headers: dict[str, Any], now: datetime | None = None) -> float | None:
    """Seconds until a message's ETA (protocol 2 headers), or None without one."""
    eta = headers.get("eta")
    if not eta:
        return None
    when = datetime.fromisoformat(str(eta))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - (now or datetime.now(UTC))).total_seconds()


def install(app: Any, topology: Topology) -> None:
    """Warn when a task is published with an ETA beyond Redis' visibility_timeout.

    Redis redelivers an unacknowledged message after visibility_timeout, and a worker holds
    an ETA task unacknowledged until it runs: such a task would run twice.
    """
    if topology.broker.type != "redis":
        return
    limit = topology.broker.visibility_timeout
    from celery import signals

    def _eta_guard(
        sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any
    ) -> None:
        seconds = eta_seconds(headers or {})
        if seconds is not None and seconds > limit:
            log.warning(
                "task %s has an ETA %.0f s ahead, beyond the Redis visibility_timeout (%d s): "
                "it may run twice; raise broker.visibility_timeout in the topology",
                sender,
                seconds,
                limit,
            )

    signals.before_task_publish.connect(_eta_guard, weak=False, dispatch_uid=f"stack-eta-{id(app)}")
