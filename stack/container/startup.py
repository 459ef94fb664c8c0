"""What a container does around Celery's own start: wait for the broker, freeze the heap.

Kept out of boot.py, which loads the topology when imported, so that both can be tested.
"""

from __future__ import annotations

import gc
import socket
import sys
import time
from urllib.parse import urlsplit

from stack.container import phase

BROKER_WAIT = 60.0  # seconds; then Celery's own retries and errors take over
BROKER_POLL = 0.1
DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671, "pyamqp": 5672}


def wait_for_broker(url: str | None, limit: float = BROKER_WAIT, poll: float = BROKER_POLL) -> bool:
    """Wait until the broker's port accepts a connection; False if it never did in time.

    Containers start together (`stack up`, a Kubernetes rollout). Celery's first retry after
    a refused connection comes 2 s later, and later ones further apart; polling the port
    every 0.1 s lets a worker connect within 0.1 s of the broker listening.
    """
    if not url or ";" in url:
        return True  # none, or a failover list: Celery itself moves on to the next broker
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a URL only Celery understands: let it connect and report
        return True
    if not parts.hostname or port is None:
        return True  # not a TCP broker we know: nothing to wait for
    deadline = time.monotonic() + limit
    told = False
    while True:
        try:
            with socket.create_connection((parts.hostname, port), timeout=1):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            if not told:
                print(f"stack: waiting for the broker at {parts.hostname}:{port}", file=sys.stderr)
                phase.enter(phase.BROKER_PORT, f"{parts.hostname}:{port}")
                told = True
            time.sleep(poll)


def freeze_heap(**_: object) -> None:
    """Once the worker is set up (before the pool's first fork, or when it is ready): collect
    once, then freeze what is left, so later collections skip the startup heap.

    Celery runs a full collection before every fork (celery#2927), and a full collection of
    a worker's heap stops it for tens of ms: frozen objects are skipped, so children fork
    sooner, and children keep sharing the parent's memory pages instead of copying them
    when their collector touches every object's header.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
