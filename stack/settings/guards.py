"""Runtime guards for Celery's known traps, installed with the topology's settings."""

from __future__ import annotations

import functools
import logging
import time
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("stack.settings.guards")
CELERY_REQUEST = "celery.worker.request:Request"  # Celery's default Task.Request
RESULTLESS_REQUEST = "stack.container.resultless:Request"


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


def destination(app: Any, name: str, args: Any, kwargs: Any, *, options: dict[str, Any]) -> str:
    """The queue Celery's router picks for this send (an explicit queue= wins, as in Celery)."""
    queue = options.get("queue")
    if not isinstance(queue, str):
        # The name and task Celery's send_task routes by: a map's route_name is the task it
        # maps, and the kit's helper router reads the app from the registered task.
        task_type = options.get("task_type") or app._tasks.get(name)
        route_name = options.get("route_name") or name
        queue = app.amqp.router.route(dict(options), route_name, args, kwargs, task_type)
        queue = queue.get("queue")
    return str(getattr(queue, "name", queue))


def install(
    app: Any,
    broker_type: str,
    visibility_timeout: int,
    ignored_queues: frozenset[str] = frozenset(),
) -> None:
    """Wrap this app's send_task (apply_async and canvas go through it) with two guards
    and a stamp: the time of sending, as the message's AMQP timestamp property.

    - A warning when a task is sent with an ETA beyond Redis' visibility_timeout. Redis
      redelivers an unacknowledged message after visibility_timeout, and a worker holds an
      ETA task unacknowledged until it runs: such a task would run twice.
    - ignore_result for a task routed to a queue whose every consumer ignores results. The
      message's ignore_result wins over the worker's task_ignore_result, and apply_async
      always sends one (False by Celery's default): every `.delay()` stored a result that
      the group says it never stores. It also spares the sender a result subscription and
      its removal, 0.3 ms of a 1.1 ms send_task (bench/RESULTS.md, "2026-12-02, dca0142: a
      producer's send_task, and the Redis transport"). The topology wins over an
      ignore_result=False of the caller, as the group's setting promises. An AsyncResult
      of such a send is marked ignored: .get() returns None at once.

    Celery's publish signals are process-wide and would mix the settings of several apps.
    """
    if getattr(app, "_stack_guards", False):
        return
    if app.conf.task_ignore_result and app.Task.Request == CELERY_REQUEST:
        # Workers of this app store no result, even of a message that asks for one. A
        # Request set by the user's own task base class or task stays theirs. A string, so
        # that producers do not import the worker's modules.
        app.Task.Request = RESULTLESS_REQUEST
    limit = visibility_timeout if broker_type == "redis" else None
    send_task = app.send_task

    @functools.wraps(send_task)
    def guarded(name: str, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        seconds = delay_seconds(options.get("countdown"), options.get("eta"))
        if limit is not None and seconds is not None and seconds > limit:
            log.warning(
                "task %s has an ETA %.0f s ahead, beyond the Redis visibility_timeout (%d s): "
                "it may run twice; raise broker.visibility_timeout in the topology",
                name, seconds, limit,
            )  # fmt: skip
        if (
            ignored_queues
            and not options.get("ignore_result")
            and destination(app, name, args, kwargs, options=options) in ignored_queues
        ):
            options["ignore_result"] = True
        # The AMQP timestamp property (whole seconds): how long the oldest waiting message
        # has waited, for `stack top` and the metrics (settings/depths.py).
        options.setdefault("timestamp", int(time.time()))
        return send_task(name, args, kwargs, *rest, **options)

    app.send_task = guarded
    app._stack_guards = True
