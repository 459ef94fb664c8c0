"""Entry point inside containers: `python -m stack.launch worker|beat` and
`celery -A stack.boot:app flower` load this module.

The user's code is unchanged: the kit imports their app and applies the topology to it,
from the image's snapshot of the settings when it matches the topology file (no YAML, no
pydantic: see snapshot.py), else from the topology itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import signals

from . import guards, health, snapshot
from .startup import freeze_heap, wait_for_broker
from .userapp import load_app

TOPOLOGY = os.environ.get("STACK_TOPOLOGY", "/etc/stack/topology.yaml")
APP_DIR = Path(os.environ.get("STACK_APP_DIR", "/app"))
BROKER_URL = os.environ.get("STACK_BROKER_URL")
BACKEND_URL = os.environ.get("STACK_RESULT_BACKEND") or None
GROUP = os.environ.get("STACK_GROUP") or None


def _from_snapshot() -> Any | None:
    snap = snapshot.read(TOPOLOGY, os.environ.get("STACK_SNAPSHOT", snapshot.PATH))
    conf = snap.settings(BROKER_URL, BACKEND_URL, GROUP) if snap is not None else None
    if snap is None or conf is None:
        return None
    app = load_app(snap.app, APP_DIR)
    app.conf.update(conf)
    guards.install(app, snap.broker_type, snap.visibility_timeout)
    return app


def _from_topology() -> Any:
    from .load import load
    from .producer import configure, import_app

    topology = load(TOPOLOGY).topology
    return configure(import_app(topology, APP_DIR), topology, BROKER_URL, BACKEND_URL, GROUP)


_snapshot_app = _from_snapshot()
SOURCE = "snapshot" if _snapshot_app is not None else "topology"
app: Any = _snapshot_app if _snapshot_app is not None else _from_topology()
health.install(app)
signals.worker_before_create_process.connect(freeze_heap, weak=False)
signals.worker_ready.connect(freeze_heap, weak=False)
wait_for_broker(BROKER_URL)
