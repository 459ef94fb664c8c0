"""The colour demo's tasks: each returns the node that ran it, so routing is visible."""

from __future__ import annotations

import time
from typing import Any

from celery import Celery, current_task

# No broker or queues here: stack applies the topology to this app.
app = Celery("tasks")


def _node() -> str:
    return str(current_task.request.hostname)


@app.task
def red_task(delay: float = 0.0) -> str:
    time.sleep(delay)
    return _node()


@app.task
def green_task(delay: float = 0.0) -> str:
    time.sleep(delay)
    return _node()


@app.task
def blue_task(delay: float = 0.0) -> str:
    time.sleep(delay)
    return _node()


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def multiply(x: int, y: int) -> int:
    return x * y


@app.task
def tsum(numbers: list[int]) -> int:
    return sum(numbers)


@app.task
def periodic_task() -> str:
    return f"tick from {_node()}"


# Canvas: each task's queue follows its name (see topology.yaml's routes).


@app.task
def green_fail(message: str = "failed on purpose") -> None:
    raise ValueError(message)


@app.task
def blue_on_error(task_id: str) -> str:
    """A link_error callback of one argument: Celery sends it the failed task's id."""
    return task_id


@app.task(bind=True, max_retries=3)
def green_flaky(self: Any, failures: int) -> int:
    """Fails `failures` times, each retried a second later; returns its retries."""
    if self.request.retries < failures:
        raise self.retry(countdown=1)
    return int(self.request.retries)


@app.task(bind=True)
def blue_fanout(self: Any, n: int) -> Any:
    """Replaced by a group of adds; Celery's celery.accumulate gathers their results."""
    from celery import group

    return self.replace(group(add.s(i, i) for i in range(n)))
