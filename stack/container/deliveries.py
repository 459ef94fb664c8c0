"""Poison messages: a task whose worker process dies runs at most `max_deliveries` times.

With acks_late and reject_on_worker_lost (the kit's defaults), Celery requeues the message
of a task whose pool process died (OOM killer, segfault, os._exit) unchanged, so a task
that kills its process every time is delivered without end, taking a process down each
time. The kit's request class counts instead: on a lost process it publishes the message
again with a delivery count one higher in its headers and acknowledges the old copy; at
`workers.<group>.max_deliveries` it publishes it to the dead-letter queue (DEAD_QUEUE)
with the exchange and routing key it came from, and records the task as failed. `stack
requeue` sends dead letters back (deploy/ops/deadletters.py).
"""

from __future__ import annotations

from typing import Any

from billiard.exceptions import WorkerLostError
from celery.worker.request import Request as CeleryRequest

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


def deliveries(headers: dict[str, Any] | None) -> int:
    """The deliveries a message's headers count; a message never redelivered by the kit: 1."""
    try:
        return max(1, int((headers or {}).get(HEADER) or 1))
    except (TypeError, ValueError):
        return 1


class Request(CeleryRequest):  # type: ignore[misc]
    _stack_lost = False

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # ExceptionWithTraceback
        # Celery's own test of a lost process (worker/request.py): a WorkerLostError, or
        # the child's exit reported before it ended, when nobody revoked the task.
        lost = isinstance(exc, (WorkerLostError, SystemExit, KeyboardInterrupt))
        self._stack_lost = lost and not (self._already_cancelled or self._already_revoked)
        return super().on_failure(exc_info, send_failed_event, return_ok)

    def reject(self, requeue: bool = False) -> None:
        limit = int(self.task.app.conf.get(SETTING) or 0)
        if not (requeue and self._stack_lost and limit):
            super().reject(requeue=requeue)
            return
        message = self._message
        info = message.delivery_info or {}
        exchange, routing_key = info.get("exchange") or "", info.get("routing_key") or ""
        count = deliveries(message.headers)
        headers = dict(message.headers or {})
        app = self.task.app
        if count < limit:
            headers[HEADER] = count + 1
            republish(app, message, exchange=exchange, routing_key=routing_key, headers=headers)
        else:
            headers.update({HEADER: count, ORIGIN_EXCHANGE: exchange,
                            ORIGIN_ROUTING_KEY: routing_key})  # fmt: skip
            republish(
                app,
                message,
                exchange=DEAD_QUEUE,
                routing_key=DEAD_QUEUE,
                headers=headers,
                declare=(dead_queue(),),
            )
            reason = WorkerLostError(
                f"its worker process died in each of {count} deliveries "
                f"(max_deliveries); moved to the dead-letter queue {DEAD_QUEUE}"
            )
            self.task.backend.mark_as_failure(
                self.id, reason, request=self._context, store_result=self.store_errors
            )
        self.acknowledge()


def install(app: Any) -> None:
    """Every task of app gets the counting request class (where the group sets a limit)."""
    if app.conf.get(SETTING):
        app.Task.Request = f"{__name__}:Request"
