"""Entry point inside containers: `python -m stack.launch worker|beat` and
`celery -A stack.boot:app flower` load this module.

The user's code is unchanged: the kit imports their app and applies the topology to it.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import signals

from . import health
from .load import load
from .producer import configure, import_app
from .startup import freeze_heap, wait_for_broker

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
