"""Benchmark tasks: each counts its executions in Redis (database 2 of the broker's server).

The same module runs under the kit (`stack.container.boot`, which configures this app from the
topology) and under plain Celery (`celery -A benchtasks:app worker`, configured only by
CELERY_BROKER_URL / CELERY_RESULT_BACKEND), so both execute exactly the same code.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

app = Celery("benchtasks")

_client: Any = None


def counter() -> Any:
    """One Redis client per process (created after the prefork fork), on database 2."""
    global _client
    if _client is None:
        import redis

        url = os.environ.get("STACK_BROKER_URL") or os.environ["CELERY_BROKER_URL"]
        _client = redis.Redis.from_url(url.rsplit("/", 1)[0] + "/2")
    return _client


@app.task(name="bench.noop")
def noop(key: str) -> None:
    counter().incr(key)


@app.task(name="bench.io")
def io(key: str) -> None:
    time.sleep(0.01)  # an I/O wait: a 10 ms call to some service
    counter().incr(key)


@app.task(name="bench.stamp")
def stamp(key: str, sent: float) -> None:
    started = time.time()
    counter().rpush(key, started - sent)
