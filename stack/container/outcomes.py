"""What each worker counts of its tasks' outcomes, for `stack top` and the metrics exporter.

Counted in the worker's main process from Celery's own task events as the request sends
them (task-succeeded with its runtime, task-failed, task-retried). With task events off
Celery still calls Request.send_event while the worker's event dispatcher is on (it is
for heartbeats: the dispatcher drops the task group there), so the counts hold either way.
The `stack_outcomes` inspect command answers the totals, the last minute's counts and the
last minute's runtimes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from celery.worker.control import inspect_command
from celery.worker.request import Request as CeleryRequest

WINDOW = 60.0  # seconds: "the last minute" of `stack top`
RUNTIMES = 2000  # runtimes kept for the quantiles: the newest ones
KINDS = {"task-succeeded": "succeeded", "task-failed": "failed", "task-retried": "retried"}


class Outcomes:
    """Totals, per-second counts of the last minute, and the newest runtimes. Thread-safe:
    a threads pool calls its requests' handlers from its own threads."""

    def __init__(self, clock: Any = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.lock = threading.Lock()
        self.totals = dict.fromkeys(("succeeded", "failed", "retried", "lost"), 0)
        self.seconds: deque[tuple[int, dict[str, int]]] = deque()  # (second, kind -> n)
        self.runtimes: deque[tuple[float, float]] = deque(maxlen=RUNTIMES)  # (when, seconds)

    def note(self, kind: str, runtime: float | None = None) -> None:
        now = self.clock()
        second = int(now)
        with self.lock:
            self.totals[kind] = self.totals.get(kind, 0) + 1
            if not self.seconds or self.seconds[-1][0] != second:
                self.seconds.append((second, {}))
            counts = self.seconds[-1][1]
            counts[kind] = counts.get(kind, 0) + 1
            if runtime is not None:
                self.runtimes.append((now, float(runtime)))
            self._forget(now)

    def _forget(self, now: float) -> None:
        while self.seconds and self.seconds[0][0] < now - WINDOW:
            self.seconds.popleft()

    def report(self) -> dict[str, Any]:
        now = self.clock()
        with self.lock:
            self._forget(now)
            last: dict[str, int] = {}
            for _, counts in self.seconds:
                for kind, n in counts.items():
                    last[kind] = last.get(kind, 0) + n
            runtimes = [r for t, r in self.runtimes if t >= now - WINDOW]
            totals = dict(self.totals)
        return {
            "totals": totals,
            "last_minute": last,
            # Seconds the last-minute counts span: less than a minute after a start.
            "window": min(WINDOW, now - self.started),
            "runtimes": runtimes,
        }


OUTCOMES = Outcomes()


class Recording(CeleryRequest):  # type: ignore[misc]
    """Mixed in before a task's own request class (container/requests.py)."""

    def send_event(self, type: str, **fields: Any) -> None:  # Celery's name
        kind = KINDS.get(type)
        if kind is not None:
            OUTCOMES.note(kind, fields.get("runtime") if kind == "succeeded" else None)
        super().send_event(type, **fields)


@inspect_command()  # type: ignore[untyped-decorator]
def stack_outcomes(state: Any) -> dict[str, Any]:
    """This worker's task outcomes: totals, the last minute's, its runtimes; or why it
    counts none (a worker with --without-heartbeat and task events off sends no events)."""
    dispatcher = getattr(state.consumer, "event_dispatcher", None)
    if dispatcher is None or not dispatcher.enabled:
        return {"unavailable": "this worker sends no events: it counts no outcomes"}
    return OUTCOMES.report()
