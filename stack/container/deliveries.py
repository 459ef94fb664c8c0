"""Poison messages: a task whose worker process dies runs at most `max_deliveries` times.

With acks_late and reject_on_worker_lost (the kit's defaults), Celery requeues the message
of a task whose pool process died (OOM killer, segfault, os._exit) unchanged, so a task
that kills its process every time is delivered without end, taking a process down each
time. The kit's request class counts instead: on a lost process it publishes the message
again, to the queue it came from, with a delivery count one higher in its headers and
acknowledges the old copy; at `workers.<group>.max_deliveries` it publishes it to the
dead-letter queue (DEAD_QUEUE) with the queue it came from, and records the task as failed
as Celery does (result, task_failure signal, task-failed event). `stack requeue` sends
dead letters back (deploy/ops/deadletters.py).
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.exceptions import WorkerLostError
from celery import signals
from celery.utils.saferepr import saferepr
from celery.worker import state
from celery.worker.request import Request as CeleryRequest

from stack.container.outcomes import OUTCOMES
from stack.settings.celeryconf import MAX_DELIVERIES
from stack.settings.deadletter import (
    DEAD_QUEUE,
    HEADER,
    ORIGIN_EXCHANGE,
    ORIGIN_ROUTING_KEY,
    dead_queue,
    republish,
)

SETTING = MAX_DELIVERIES  # the group's max_deliveries, in its Celery settings
log = logging.getLogger(__name__)


def deliveries(headers: dict[str, Any] | None) -> int:
    """The deliveries a message's headers count; a message never redelivered by the kit: 1."""
    try:
        return max(1, int((headers or {}).get(HEADER) or 1))
    except (TypeError, ValueError):
        return 1


def consumed_queue(app: Any, exchange: str, routing_key: str) -> str | None:
    """The queue this worker consumes that a message sent to exchange/routing_key came from.

    Sending the message again to its exchange and key would reach every queue bound with
    that key, one copy each; the default exchange reaches that one queue. Two queues of
    one worker bound alike cannot be told apart: the first by name, still this worker's."""
    if not exchange:
        return routing_key or None
    names = sorted(
        name
        for name, queue in app.amqp.queues.consume_from.items()
        if queue.exchange is not None
        and queue.exchange.name == exchange
        and queue.routing_key == routing_key
    )
    return names[0] if names else None


class Counting(CeleryRequest):  # type: ignore[misc]
    """Mixed in before a task's own request class (container/requests.py)."""

    _stack_lost = False
    _stack_exc_info: Any = None

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # ExceptionWithTraceback
        # Celery's own test of a lost process (worker/request.py): a WorkerLostError, or
        # the child's exit reported before it ended, when nobody revoked the task. A cold
        # shutdown's killed children are not the task's doing: they are requeued as Celery does.
        lost = isinstance(exc, (WorkerLostError, SystemExit, KeyboardInterrupt))
        cancelled = self._already_cancelled or self._already_revoked
        self._stack_lost = lost and not cancelled and not state.should_terminate
        self._stack_exc_info = exc_info
        return super().on_failure(exc_info, send_failed_event, return_ok)

    def reject(self, requeue: bool = False) -> None:
        limit = int(self.task.app.conf.get(SETTING) or 0)
        if not (requeue and self._stack_lost and limit) or self.acknowledged:
            super().reject(requeue=requeue)
            return
        try:
            dead = self._send_again(limit)
        except Exception as exc:  # the broker is away: requeued unchanged, counted next time
            log.warning("stack: could not count a delivery of %s[%s]: %r", self.name, self.id, exc)
            super().reject(requeue=True)
            return
        self.acknowledge()
        if dead is None:
            OUTCOMES.note("lost")  # a dead letter counts once: as failed (_record_dead)
        else:
            self._record_dead(dead)

    def _send_again(self, limit: int) -> WorkerLostError | None:
        """Publish the message again, counted, or past the limit as a dead letter; the
        failure to record for a dead letter."""
        message, app = self._message, self.task.app
        info = message.delivery_info or {}
        exchange, routing_key = info.get("exchange") or "", info.get("routing_key") or ""
        queue = consumed_queue(app, exchange, routing_key)
        if queue is not None:
            exchange, routing_key = "", queue
        count = deliveries(message.headers)
        headers = dict(message.headers or {})
        if count < limit:
            headers[HEADER] = count + 1
            republish(app, message, exchange=exchange, routing_key=routing_key, headers=headers)
            return None
        headers.update({HEADER: count, ORIGIN_EXCHANGE: exchange,
                        ORIGIN_ROUTING_KEY: routing_key})  # fmt: skip
        republish(app, message, exchange=DEAD_QUEUE, routing_key=DEAD_QUEUE, headers=headers,
                  declare=(dead_queue(),))  # fmt: skip
        return WorkerLostError(
            f"its worker process died in each of {count} deliveries "
            f"(max_deliveries); moved to the dead-letter queue {DEAD_QUEUE}"
        )

    def _record_dead(self, reason: WorkerLostError) -> None:
        """What Celery records of a task failing for good: its result, the task_failure
        signal and the task-failed event."""
        einfo = self._stack_exc_info
        traceback = getattr(einfo, "traceback", None)
        self.task.backend.mark_as_failure(
            self.id, reason, request=self._context, store_result=self.store_errors
        )
        self.task.request_stack.push(self._context)
        try:
            signals.task_failure.send(sender=self.task, task_id=self.id, exception=reason,
                                      args=self.args, kwargs=self.kwargs,
                                      traceback=traceback, einfo=einfo)  # fmt: skip
        finally:
            self.task.request_stack.pop()
        self.send_event("task-failed", exception=saferepr(reason), traceback=traceback)
