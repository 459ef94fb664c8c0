"""The fault tests' one task: it logs its start and its end, so a test can count executions.

Every execution appends `start TOKEN NODE TIME`, then `done TOKEN NODE TIME`, to the Redis list
`RUN:events`, in database 2 of the stack's own Redis (results live in database 1). A test
reads that list through the published port: a token with no `done` is a lost task, a token
with two is a duplicate, and a `start` with no `done` on the same node is a task that node
never finished.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery

# No broker or queues here: stack applies the topology to this app.
app = Celery("tasks")

EVENTS_DB = 2
_clients: dict[int, Any] = {}


def events() -> Any:
    """A Redis client for the event log, one per process (prefork children fork after import)."""
    pid = os.getpid()
    if pid not in _clients:
        backend = os.environ["STACK_RESULT_BACKEND"]  # redis://:PASSWORD@redis:6379/1
        _clients[pid] = redis.Redis.from_url(f"{backend.rsplit('/', 1)[0]}/{EVENTS_DB}")
    return _clients[pid]


@app.task(bind=True, ignore_result=True)
def work(self: Any, run: str, token: int, seconds: float) -> None:
    """Sleep `seconds` between a start and a done record."""
    node = self.request.hostname
    events().rpush(f"{run}:events", f"start {token} {node} {time.time():.3f}")
    time.sleep(seconds)
    events().rpush(f"{run}:events", f"done {token} {node} {time.time():.3f}")
