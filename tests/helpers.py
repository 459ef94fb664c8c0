"""What tests share: the repository's paths, topology texts, and helpers for real stacks."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLORS = ROOT / "examples" / "colors"
IMAGE_VARS = ("STACK_PYTHON_IMAGE", "STACK_REDIS_IMAGE", "STACK_RABBITMQ_IMAGE")
HINT = 'run `eval "$(scripts/offline-images)"` first (or `make integration`)'

# A RabbitMQ topology with priorities, patterns, an ignore_result group and a cron entry.
RABBIT = """\
name: shop
app: tasks:app
broker: rabbitmq
backend: none
queues:
  a: {max_priority: 5}
  b: {}
routes:
  "shop.*": a
  "re:^x\\\\.": b
workers:
  w: {queues: [a, b], ignore_result: true, time_limit: 30, workload: io}
  v: {queues: [b], workload: short, prefetch_multiplier: 8}
beat:
  nightly: {task: shop.n, cron: "0 3 * * 1-5", queue: b}
celery:
  task_default_priority: 3
monitor: {flower: false}
"""

# External broker and backend URLs, with transport options of the user's own.
EXTERNAL = """\
name: ext
app: tasks:app
broker: redis://broker.example:6379/0
backend: redis://broker.example:6379/1
queues: [q]
workers:
  w: {queues: [q]}
celery:
  broker_transport_options: {visibility_timeout: 7200, priority_steps: [0, 5]}
"""


def mentions_path(text: str, path: str) -> bool:
    """path as a whole path in text: /app, not /app.txt, requirements/app or /apps."""
    return re.search(rf"(?<![\w.-]){re.escape(path)}(?![\w.-])", text) is not None


def unavailable(reason: str) -> None:
    """No engine or images: a skip on a developer machine, a failure in CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: integration tests must run)", pytrace=False)
    pytest.skip(reason)


def labelled_resources(client: Any, label: str) -> dict[str, list[str]]:
    """Every container, network and volume that still carries label (key=value)."""
    filters = {"label": label}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=filters)],
        "networks": [n.name for n in client.networks.list(filters=filters)],
        "volumes": [v.name for v in client.volumes.list(filters=filters)],
    }


def project_copy(tmp: Path, source: str, prefix: str) -> Path:
    """examples/colors copied to tmp, the topology renamed to a unique project name."""
    shutil.copytree(COLORS, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".stack"))
    name = f"{prefix}-{secrets.token_hex(3)}"
    text = (COLORS / source).read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^name: .*$", f"name: {name}", text)
    assert count == 1, f"{source} has no top-level name:"
    path = tmp / "topology.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def forget_app(base_dirs: list[Path]) -> None:
    """Each stack imports its own copy of examples/colors/tasks.py: drop the last one."""
    sys.modules.pop("tasks", None)
    dirs = {str(d.resolve()) for d in base_dirs}
    sys.path[:] = [p for p in sys.path if p not in dirs]
