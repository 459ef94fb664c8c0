"""Entry point inside containers: `python -m stack.launch worker|beat`, `celery -A stack.boot:app
flower`.

The user's code is unchanged: the kit imports their app and applies the topology to it.
"""

from __future__ import annotations

import gc
import os
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from celery import signals

from . import health
from .load import load
from .producer import configure, import_app

BROKER_WAIT = 60.0  # seconds; then Celery's own retries and errors take over
BROKER_POLL = 0.1


def wait_for_broker(url: str | None, limit: float = BROKER_WAIT) -> bool:
    """Wait until the broker's port accepts a connection; False if it never did in time.

    Containers start together (`stack up`, a Kubernetes rollout). Celery's first retry after
    a refused connection comes 2 s later, and later ones further apart; polling the port
    every 0.1 s lets a worker connect within 0.1 s of the broker listening.
    """
    parts = urlsplit(url or "")
    if not parts.hostname or parts.scheme not in ("redis", "rediss", "amqp", "amqps", "pyamqp"):
        return True
    port = parts.port or (6379 if parts.scheme.startswith("redis") else 5672)
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
                told = True
            time.sleep(BROKER_POLL)


def freeze_heap(**_: object) -> None:
    """Once the worker is set up (before the pool's first fork, or when it is ready): collect
    once, then freeze what is left, so later collections skip the startup heap.

    Celery runs a full collection before every fork (celery#2927), and a full collection of
    a worker's heap stops it for tens of ms: frozen objects are skipped, so children fork
    sooner, tail latency drops, and children keep sharing the parent's memory pages instead
    of copying them when their collector touches every object's header.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


_loaded = load(os.environ.get("STACK_TOPOLOGY", "/etc/stack/topology.yaml"))
app = configure(
    import_app(_loaded.topology, Path(os.environ.get("STACK_APP_DIR", "/app"))),
    _loaded.topology,
    broker_url=os.environ.get("STACK_BROKER_URL"),
    backend_url=os.environ.get("STACK_RESULT_BACKEND") or None,
    group=os.environ.get("STACK_GROUP") or None,
)
health.install(app)
signals.worker_before_create_process.connect(freeze_heap, weak=False)
signals.worker_ready.connect(freeze_heap, weak=False)
wait_for_broker(os.environ.get("STACK_BROKER_URL"))
