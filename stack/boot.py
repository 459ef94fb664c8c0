"""Entry point inside containers: `celery -A stack.boot:app worker|beat|flower`.

The user's code is unchanged: the kit imports their app and applies the topology to it.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import health
from .load import load
from .producer import configure, import_app

_loaded = load(os.environ.get("STACK_TOPOLOGY", "/etc/stack/topology.yaml"))
app = configure(
    import_app(_loaded.topology, Path(os.environ.get("STACK_APP_DIR", "/app"))),
    _loaded.topology,
    broker_url=os.environ.get("STACK_BROKER_URL"),
    backend_url=os.environ.get("STACK_RESULT_BACKEND") or None,
    group=os.environ.get("STACK_GROUP") or None,
)
health.install(app)
