"""Runtime guards for Celery's known traps, installed with the topology's settings."""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("stack.guards")


def delay_seconds(
    countdown: float | None, eta: datetime | str | None, now: datetime | None = None
) -> float | None:
    """Seconds until a task is due, from send_task's countdown or eta; None when neither."""
    if countdown is not None:
        return float(countdown)
    if eta is None:
        return None
    when = eta if isinstance(eta, datetime) else datetime.fromisoformat(str(eta))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - (now or datetime.now(UTC))).total_seconds()


def install(app: Any, broker_type: str, visibility_timeout: int) -> None:
    """Warn when a task is sent with an ETA beyond Redis' visibility_timeout.

    Redis redelivers an unacknowledged message after visibility_timeout, and a worker holds
    an ETA task unacknowledged until it runs: such a task would run twice. The check wraps
    this app's send_task (apply_async and canvas go through it): Celery's publish signals
    are process-wide and would mix the limits of several apps.
    """
    if broker_type != "redis" or getattr(app, "_stack_eta_guard", False):
        return
    limit = visibility_timeout
    send_task = app.send_task

    @functools.wraps(send_task)
    def guarded(name: str, *args: Any, **options: Any) -> Any:
        seconds = delay_seconds(options.get("countdown"), options.get("eta"))
        if seconds is not None and seconds > limit:
            log.warning(
                "task %s has an ETA %.0f s ahead, beyond the Redis visibility_timeout (%d s): "
                "it may run twice; raise broker.visibility_timeout in the topology",
                name, seconds, limit,
            )  # fmt: skip
        return send_task(name, *args, **options)

    app.send_task = guarded
    app._stack_eta_guard = True
