"""The colour demo's tasks: each returns the node that ran it, so routing is visible."""

from __future__ import annotations

import time

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
