"""What each worker counts of its tasks' outcomes, for `stack top` and the metrics exporter.

Counted in the worker's main process from Celery's own task events as the request sends
them (task-succeeded with its runtime, task-failed, task-retried). With task events off
Celery still calls Request.send_event while the worker's event dispatcher is on (it is
for heartbeats: the dispatcher drops the task group there), so the counts hold either way.
The `stack_outcomes` inspect command answers the totals, the last minute's counts and the
last minute's runtimes.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from celery.worker.control import inspect_command
from celery.worker.request import Request as CeleryRequest

WINDOW = 60.0  # seconds: "the last minute" of `stack top`
RUNTIMES = 2000  # runtimes kept for the quantiles: the newest ones
KINDS = {"task-succeeded": "succeeded", "task-failed": "failed", "task-retried": "retried"}


def quantile(values: list[float], q: float) -> float | None:
    """The nearest-rank q-quantile of values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Outcomes:
    def __init__(self, clock: Any = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.totals = {"succeeded": 0, "failed": 0, "retried": 0, "lost": 0}
        self.recent: deque[tuple[int, str]] = deque()  # (second, kind), oldest first
        self.runtimes: deque[tuple[float, float]] = deque(maxlen=RUNTIMES)  # (when, seconds)

    def note(self, kind: str, runtime: float | None = None) -> None:
        now = self.clock()
        self.totals[kind] = self.totals.get(kind, 0) + 1
        self.recent.append((int(now), kind))
        if runtime is not None:
            self.runtimes.append((now, float(runtime)))
        self._forget(now)

    def _forget(self, now: float) -> None:
        while self.recent and self.recent[0][0] < now - WINDOW:
            self.recent.popleft()

    def report(self) -> dict[str, Any]:
        now = self.clock()
        self._forget(now)
        last: dict[str, int] = {}
        for _, kind in self.recent:
            last[kind] = last.get(kind, 0) + 1
        return {
            "totals": dict(self.totals),
            "last_minute": last,
            # Seconds the last-minute counts span: less than a minute after a start.
            "window": min(WINDOW, now - self.started),
            "runtimes": [r for t, r in self.runtimes if t >= now - WINDOW],
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
    """This worker's task outcomes: totals, the last minute's, its runtimes."""
    return OUTCOMES.report()
