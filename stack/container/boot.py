"""Entry point inside containers: `python -m stack.container.launch worker|beat` and
Flower's app (monitor.py) load this module.

The user's code is unchanged: the kit imports their app and applies the topology to it,
from the image's snapshot of the settings when it matches the topology file (no YAML, no
pydantic: see snapshot.py), else from the topology itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from celery import signals

from stack.container import devstate, health, paths, reconnect, requests
from stack.container.startup import freeze_heap, wait_for_broker
from stack.container.userapp import load_app
from stack.settings import guards, snapshot

TOPOLOGY = os.environ.get("STACK_TOPOLOGY", paths.TOPOLOGY)
APP_DIR = Path(os.environ.get("STACK_APP_DIR", paths.APP_DIR))
BROKER_URL = os.environ.get("STACK_BROKER_URL")
BACKEND_URL = os.environ.get("STACK_RESULT_BACKEND") or None
GROUP = os.environ.get("STACK_GROUP") or None


_snap, SOURCE = snapshot.current(TOPOLOGY, os.environ.get("STACK_SNAPSHOT", paths.SNAPSHOT))
_conf = _snap.settings(BROKER_URL, BACKEND_URL, GROUP)
if _conf is None:
    sys.exit(f"stack: STACK_GROUP={GROUP!r} is not a worker group of {TOPOLOGY}")
app = load_app(_snap.app, APP_DIR)
app.conf.update(_conf)
guards.install(app, _snap.broker_type, _snap.visibility_timeout, _snap.ignored_queues)
health.install(app)
reconnect.install(app)
requests.install(app)
devstate.install(APP_DIR)
signals.worker_before_create_process.connect(freeze_heap, weak=False)
signals.worker_ready.connect(freeze_heap, weak=False)
wait_for_broker(BROKER_URL)
