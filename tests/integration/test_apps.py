"""The Celery apps people have, through the CLI on real containers: a Django project (Django
not on the host: its requirements go through `stack wheels`), a package found by `app:
proj` (Celery's examples/next-steps) and an app made by a factory function, named by
module:attribute.

One stack per app, each through validate, routes --app (asked of the image), up, a send to
every queue, scale, an edit + up, down. The Django stack also shows beat firing, and a
worker blocked at import: `stack up` says where.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stack.cli.main import app as cli
from tests.helpers import labelled_resources

pytestmark = pytest.mark.docker

APPS = Path(__file__).parent / "apps"
UP_TIMEOUT = "150"


@dataclass(frozen=True)
class Case:
    """One app and what its stack must show."""

    source: str
    prefix: str
    tasks: dict[str, str]  # every task the app registers (celery.* aside) -> its queue
    args: dict[str, str]  # task -> its --args
    scale: str  # GROUP=N
    edit: tuple[str, str]  # topology text replaced, and by what
    moved: dict[str, str]  # after the edit: task -> its new queue
    resultless: frozenset[str] = frozenset()  # ignore_result in the app's code: seen in logs
    checks: list[Callable[[Path, Any], None]] = field(default_factory=list)


def invoke(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, f"stack {' '.join(args)}:\n{result.output}"
    return result


def routes_of(path: Path) -> dict[str, tuple[str, set[str]]]:
    """`stack routes --app`: task -> (queue, groups consuming it)."""
    rows = json.loads(invoke("routes", str(path), "--app", "--json").stdout)
    return {row["task"]: (row["queue"], set(row["workers"])) for row in rows}


def send(path: Path, task: str, args: str) -> dict[str, Any]:
    out = invoke("send", task, "-f", str(path), "--args", args, "--wait", "--json").stdout
    sent = json.loads(out)
    assert sent["state"] == "SUCCESS", sent
    return dict(sent)


def check_every_queue(path: Path, case: Case, tasks: dict[str, str]) -> None:
    """Each task runs on a group that consumes its queue; every queue is used."""
    table = routes_of(path)
    assert {t: q for t, (q, _) in table.items()} == tasks
    for task, queue in tasks.items():
        if task in case.resultless:
            sent = json.loads(invoke("send", task, "-f", str(path), "--json").stdout)
            group = ran_on(path, task, sent["id"], table[task][1])
        else:
            sent = send(path, task, case.args[task])
            group = sent["result"]["node"].partition("@")[0]
        assert sent["queue"] == queue, sent
        assert group in table[task][1], f"{task} ran on {group}, not on {table[task][1]}"
    queues = set(tasks.values())
    assert len(queues) >= 2, queues


def ran_on(path: Path, task: str, task_id: str, groups: set[str]) -> str:
    """The group whose worker logged that it ran the task (it stores no result)."""
    from stack.deploy.ops.logs import logs

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for group in sorted(groups):
            if any(f"Task {task}[{task_id}] succeeded" in line for _, line in logs(path, group)):
                return group
        time.sleep(0.5)
    raise AssertionError(f"no worker of {sorted(groups)} logged {task}[{task_id}]")


def check_scale(path: Path, case: Case) -> None:
    group, _, count = case.scale.partition("=")
    invoke("scale", case.scale, "-f", str(path), "--timeout", UP_TIMEOUT)
    services = {
        s["name"]: s for s in json.loads(invoke("ps", str(path), "--json").stdout)["services"]
    }
    assert services[group]["running"] == int(count), services[group]


def copy_app(tmp: Path, case: Case) -> Path:
    shutil.copytree(APPS / case.source, tmp, dirs_exist_ok=True)
    path = tmp / "topology.yaml"
    name = f"{case.prefix}-{secrets.token_hex(3)}"
    text, count = re.subn(r"(?m)^name: .*$", f"name: {name}", path.read_text(encoding="utf-8"))
    assert count == 1
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def stack_of(path: Path, docker_sdk: Any) -> Iterator[str]:
    """The project name; whatever the test leaves is taken down, image included."""
    from stack.deploy.ops.down import down
    from stack.topology.load import load

    name = load(path).topology.name
    try:
        yield name
    finally:
        try:
            down(path, volumes=True)
        finally:
            for image in docker_sdk.images.list(filters={"label": f"io.stack.project={name}"}):
                with contextlib.suppress(Exception):
                    docker_sdk.images.remove(image.id, force=True)


def exercise(path: Path, case: Case, docker_sdk: Any) -> None:
    with stack_of(path, docker_sdk) as name:
        assert "valid:" in invoke("validate", str(path)).stdout
        # Before up: this builds the image that up then finds.
        assert {t: q for t, (q, _) in routes_of(path).items()} == case.tasks
        invoke("up", str(path), "--timeout", UP_TIMEOUT)
        check_every_queue(path, case, case.tasks)
        check_scale(path, case)
        for check in case.checks:
            check(path, docker_sdk)
        old, new = case.edit
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")
        invoke("up", str(path), "--timeout", UP_TIMEOUT)
        check_every_queue(path, case, {**case.tasks, **case.moved})
        assert "removed container" in invoke("down", str(path), "--volumes").stdout
        left = labelled_resources(docker_sdk, f"io.stack.project={name}")
        assert left == {"containers": [], "networks": [], "volumes": []}


def beat_fires(path: Path, docker_sdk: Any) -> None:
    """beat sends shipping.tasks.track_all every second; post or any runs it."""
    from stack.deploy.ops.logs import logs

    deadline = time.monotonic() + 20
    runs: list[str] = []
    while time.monotonic() < deadline and len(runs) < 3:
        lines = [line for group in ("post", "any") for _, line in logs(path, group)]
        runs = [
            line
            for line in lines
            if "Task shipping.tasks.track_all[" in line and "succeeded" in line
        ]
        time.sleep(1)
    assert len(runs) >= 3, "beat's track_all did not run"


def blocked_at_import_is_named(path: Path, docker_sdk: Any) -> None:
    """A worker whose Django app sleeps in AppConfig.ready(): `stack up` fails in one line
    that says where it is stuck, from the container's own phase and stack."""
    text = path.read_text(encoding="utf-8")
    blocked = text.replace(
        "money: {queues: [payments]}",
        "money: {queues: [payments], env: {BILLING_WARMUP_SECONDS: '3600'}}",
    )
    assert blocked != text
    path.write_text(blocked, encoding="utf-8")
    try:
        result = invoke("up", str(path), "--timeout", "25", code=1)
        # (the progress lines of `stack up` come before it on stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1, result.stderr
        first = errors[0]
        assert "Traceback" not in result.output
        assert re.fullmatch(
            r"Error: service 'money' is not ready after 25 s: no ping answer from "
            r"money@\S+: still importing the task modules \(Django setup, autodiscovery, "
            r"include\) for \d+ s, in billing/apps\.py:\d+ \(ready\)",
            first,
        ), first
    finally:
        path.write_text(text, encoding="utf-8")
    invoke("up", str(path), "--timeout", UP_TIMEOUT)


DJANGO = Case(
    source="django",
    prefix="ta-django",
    tasks={
        "billing.tasks.charge": "payments",
        "billing.tasks.refund": "payments",
        "shipping.tasks.ship": "parcels",
        "shipping.tasks.track_all": "parcels",
        "djproj.celery.debug_task": "payments",
    },
    args={
        "billing.tasks.charge": "[500]",
        "billing.tasks.refund": "[200]",
        "shipping.tasks.ship": '["p-1"]',
        "shipping.tasks.track_all": "[]",
        "djproj.celery.debug_task": "[]",
    },
    scale="money=2",
    edit=(
        '  "billing.tasks.*": payments',
        '  billing.tasks.refund: parcels\n  "billing.tasks.*": payments',
    ),
    moved={"billing.tasks.refund": "parcels"},
    resultless=frozenset({"djproj.celery.debug_task"}),  # ignore_result=True, as Celery's
    checks=[beat_fires, blocked_at_import_is_named],
)
PACKAGE = Case(
    source="package",
    prefix="ta-package",
    tasks={"proj.tasks.add": "quick", "proj.tasks.mul": "bulk", "proj.tasks.xsum": "bulk"},
    args={"proj.tasks.add": "[2, 3]", "proj.tasks.mul": "[4, 5]", "proj.tasks.xsum": "[[1, 2, 3]]"},
    scale="bulk=2",
    edit=("  proj.tasks.add: quick", "  proj.tasks.mul: quick"),
    moved={"proj.tasks.add": "bulk", "proj.tasks.mul": "quick"},
)
FACTORY = Case(
    source="factory",
    prefix="ta-factory",
    tasks={"shop.orders.place": "orders", "shop.orders.cancel": "orders", "shop.mail.send": "mail"},
    args={
        "shop.orders.place": '["o-1"]',
        "shop.orders.cancel": '["o-2"]',
        "shop.mail.send": '["a@b"]',
    },
    scale="mailer=2",
    edit=('  "shop.orders.*": orders', '  shop.orders.cancel: mail\n  "shop.orders.*": orders'),
    moved={"shop.orders.cancel": "mail"},
)


def test_a_django_project_whose_django_is_only_in_the_image(
    docker_sdk: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ImportError):
        import django  # noqa: F401  (the point: the host has no Django)
    path = copy_app(tmp_path / "app", DJANGO)
    # The user's step: the app's requirements into the wheelhouse (a copy of the shared one).
    wheels = tmp_path / "wheels"
    if os.environ.get("STACK_WHEELHOUSE"):
        shutil.copytree(os.environ["STACK_WHEELHOUSE"], wheels)
    monkeypatch.setenv("STACK_WHEELHOUSE", str(wheels))
    out = invoke("wheels", str(path)).stdout
    assert re.search(r"added .*[Dd]jango-\d", out), out
    exercise(path, DJANGO, docker_sdk)


def test_a_package_named_as_celery_a_takes_it(docker_sdk: Any, tmp_path: Path) -> None:
    exercise(copy_app(tmp_path / "app", PACKAGE), PACKAGE, docker_sdk)


def test_an_app_made_by_a_factory_function(docker_sdk: Any, tmp_path: Path) -> None:
    exercise(copy_app(tmp_path / "app", FACTORY), FACTORY, docker_sdk)
