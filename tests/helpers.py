"""What tests share: the repository's paths, topology texts, helpers for real stacks, and an
in-memory Docker client."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stack.deploy.docker import labels

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


def big_topology(queues: int = 500) -> dict[str, object]:
    """bench/model_speed.py's shape, scaled by its queues: two routes per queue (exact, then a
    glob), a worker group per 2.5 queues consuming five each, a beat entry per ten queues."""
    names = [f"q{i:03d}" for i in range(queues)]
    routes: dict[str, str] = {}
    for i, name in enumerate(names):
        routes[f"app.exact_{i}"] = name
        routes[f"app.glob_{i}_*"] = name
    return {
        "name": "big",
        "app": "app:app",
        "queues": names,
        "routes": routes,
        "workers": {
            f"g{g:03d}": {"queues": names[g * 5 % queues : g * 5 % queues + 5], "replicas": 2}
            for g in range(queues * 2 // 5)
        },
        "beat": {f"b{i}": {"task": f"app.exact_{i}", "every": "1m"} for i in range(queues // 10)},
    }


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


@dataclass
class FakeContainer:
    """What the kit reads of an SDK container: name, labels, status and attrs."""

    name: str
    labels: dict[str, str]
    status: str = "running"
    attrs: dict[str, Any] = field(default_factory=dict)


class FakeDocker:
    """A DockerClient in memory for the containers `stack up` and `stack scale` handle.

    calls records each change in order: ("create", name), ("start", name),
    ("stop_and_remove", name, timeout) and ("stop", name, timeout). Start times come from a
    clock that advances one second per start, for netns.stale.
    """

    EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

    def __init__(self) -> None:
        self.store: dict[str, FakeContainer] = {}
        self.calls: list[tuple[Any, ...]] = []
        self._ticks = 0
        self._lock = threading.Lock()  # the kit calls from several threads

    def _record(self, *call: Any) -> None:
        with self._lock:
            self.calls.append(call)

    def _run(self, container: FakeContainer) -> None:
        with self._lock:
            self._ticks += 1
            at = self.EPOCH + timedelta(seconds=self._ticks)
        container.status = "running"
        container.attrs["State"] = {"StartedAt": at.isoformat().replace("+00:00", "Z")}

    def containers(
        self, project: str, service: str | None = None, role: str | None = None
    ) -> list[FakeContainer]:
        with self._lock:
            found = [
                c
                for c in self.store.values()
                if c.labels[labels.PROJECT] == project
                and service in (None, c.labels[labels.SERVICE])
                and role in (None, c.labels[labels.ROLE])
            ]
        return sorted(
            found, key=lambda c: (c.labels[labels.SERVICE], int(c.labels[labels.REPLICA]))
        )

    def create(self, spec: Any) -> FakeContainer:
        mode = f"container:{spec.join}" if spec.join else spec.network
        container = FakeContainer(
            spec.name,
            dict(spec.labels),
            attrs={
                "HostConfig": {"NetworkMode": mode},
                "Config": {"StopTimeout": spec.stop_timeout},
            },
        )
        with self._lock:
            assert spec.name not in self.store, f"{spec.name} exists: the engine would refuse"
            self.store[spec.name] = container
        self._run(container)
        self._record("create", spec.name)
        return container

    def start(self, container: FakeContainer) -> None:
        self._run(container)
        self._record("start", container.name)

    def stop(self, container: FakeContainer, timeout: int | None = None) -> None:
        container.status = "exited"
        self._record("stop", container.name, timeout)

    def stop_and_remove(self, container: FakeContainer, timeout: int | None = None) -> None:
        with self._lock:
            del self.store[container.name]
        self._record("stop_and_remove", container.name, timeout)

    def reload(self, container: FakeContainer) -> FakeContainer:
        return container

    def restart(self, name: str) -> None:
        """A container's process started again (`docker restart`), not by the kit."""
        self._run(self.store[name])

    def kinds(self, kind: str) -> list[str]:
        """Names of containers the calls of one kind touched, in order."""
        return [call[1] for call in self.calls if call[0] == kind]


def invoke(*args: str) -> Any:
    """The `stack` CLI in this process; its exit code must be 0."""
    from typer.testing import CliRunner

    from stack.cli.main import app as cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, f"stack {' '.join(args)}:\n{result.output}"
    return result


def connect(path: Path) -> Any:
    """stack.connect, finalized: in a process that already imported another copy of the
    demo's tasks.py, Celery's warning of the copies' same task names is ignored (pyproject)."""
    import stack

    app = stack.connect(path)
    app.finalize(auto=True)
    return app


def crd_schema(file: str, version: str = "v1") -> dict[str, Any]:
    """The openAPIV3Schema of a CRD vendored in tests/crds/ (each names its source)."""
    import yaml

    text = (ROOT / "tests" / "crds" / file).read_text(encoding="utf-8")
    crd = next(d for d in yaml.safe_load_all(text) if d)
    found = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    return dict(found["schema"]["openAPIV3Schema"])


def unknown_fields(doc: Any, node: dict[str, Any], where: str = "") -> list[str]:
    """Fields the schema does not define: the API server's strict field validation rejects
    them (a structural schema prunes them otherwise, so jsonschema alone lets them by)."""
    if isinstance(doc, list):
        return [f for i, d in enumerate(doc) for f in unknown_fields(d, node.get("items", {}),
                                                                      f"{where}[{i}]")]  # fmt: skip
    if not isinstance(doc, dict) or node.get("x-kubernetes-preserve-unknown-fields"):
        return []
    known = node.get("properties")
    if known is None:  # a map (additionalProperties) or an opaque object
        extra = node.get("additionalProperties")
        return [f for k, v in doc.items() for f in unknown_fields(v, extra, f"{where}.{k}")] if (
            isinstance(extra, dict)
        ) else []  # fmt: skip
    found = [f"{where}.{k}" for k in doc if k not in known and where != ".metadata"]
    return found + [
        f for k, v in doc.items() if k in known for f in unknown_fields(v, known[k], f"{where}.{k}")
    ]
