"""`stack dev` on a real stack: an edit reloads only the groups that import it, in place."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.topology.load import load
from tests.helpers import connect

pytestmark = pytest.mark.docker

# A task of the red group that imports a module of its own only when it runs: after it ran
# once, red alone has imported red_helpers.py.
LAZY_TASK = """

@app.task(name="tasks.red_version")
def red_version() -> str:
    from red_helpers import VERSION

    return VERSION


@app.task(name="tasks.blue_version")
def blue_version() -> str:
    from blue_helpers import VERSION

    return VERSION
"""


class Dev:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.log = path.parent.parent / f"{path.parent.name}-dev.log"  # outside the app
        self.out = self.log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stack", "dev", str(path), "--groups", "red,blue"],
            stdout=self.out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "300"},
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def wait_for(self, needle: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if needle in text:
                return text
            assert self.process.poll() is None, f"stack dev exited:\n{text[-3000:]}"
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in the output of stack dev:\n{self.text()[-3000:]}")

    def dev_lines(self) -> list[str]:
        return [line for line in self.text().splitlines() if line.startswith("dev | ")]


def _prepare(path: Path) -> None:
    base = path.parent
    (base / "red_helpers.py").write_text('VERSION = "v1"\n', encoding="utf-8")
    (base / "blue_helpers.py").write_text('VERSION = "b1"\n', encoding="utf-8")
    with (base / "tasks.py").open("a", encoding="utf-8") as tasks:
        tasks.write(LAZY_TASK)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "routes:",
            "routes:\n  tasks.red_version: red_queue\n  tasks.blue_version: blue_queue",
            1,
        ).replace(
            "blue:     {queues: [blue_queue]",
            "blue:     {queues: [blue_queue], dev_restart: terminate",
        ),
        encoding="utf-8",
    )


@pytest.fixture(scope="class")
def dev(stack_factory: Callable[..., Path]) -> Iterator[Dev]:
    started: list[Dev] = []

    def runner(path: Path) -> None:
        _prepare(path)
        session = Dev(path)
        started.append(session)
        session.wait_for("(Ctrl-C stops)", timeout=240)

    stack_factory("topology.yaml", "dev", runner)
    yield started[0]
    if started[0].process.poll() is None:
        started[0].process.kill()
    started[0].process.wait()
    started[0].out.close()


def _records(path: Path) -> dict[str, str]:
    """container name -> the boot id its running process recorded."""
    state = next((path.parent / ".stack" / "dev").iterdir()) / "state"
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))["boot"] for p in state.glob("*.json")}


def _ids(docker_sdk: Any, project: str) -> dict[str, str]:
    found = docker_sdk.containers.list(filters={"label": f"io.stack.project={project}"})
    return {c.name: c.id for c in found}


def _value_becomes(
    app: Any, wanted: str, timeout: float = 60.0, task: str = "tasks.red_version"
) -> float:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = app.send_task(task).get(timeout=timeout)
        if value == wanted:
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"{task} still returns {value!r}, not {wanted!r}")


class TestDev:
    def test_an_edit_reloads_only_the_group_that_imports_it(
        self, dev: Dev, docker_sdk: Any
    ) -> None:
        app = connect(dev.path)
        assert app.send_task("tasks.red_version").get(timeout=30) == "v1"
        project = load(dev.path, full=False).topology.name
        time.sleep(0.5)  # red's record after the task that imported red_helpers
        before, ids = _records(dev.path), _ids(docker_sdk, project)
        red = [name for name in before if "-red-" in name]
        others = [name for name in before if name not in red]
        assert red
        assert any("-blue-" in n for n in others)
        assert any("-beat-" in n for n in others)
        assert not any("-green-" in n or "-colorful-" in n for n in ids), "--groups red,blue"

        running = app.send_task("tasks.red_task", kwargs={"delay": 3.0})
        time.sleep(0.5)
        (dev.path.parent / "red_helpers.py").write_text('VERSION = "v2"\n', encoding="utf-8")
        _value_becomes(app, "v2")
        assert running.get(timeout=30).startswith("red@"), "the running task finished"

        after = _records(dev.path)
        assert all(after[n] != before[n] for n in red), "red restarted"
        assert all(after[n] == before[n] for n in others), "blue and beat did not"
        assert _ids(docker_sdk, project) == ids, "no container was replaced"
        dev.wait_for("reloaded in")
        said = [line for line in dev.dev_lines() if "reloaded in" in line]
        assert said
        assert all(line.startswith("dev | red: ") for line in said), said

    def test_broken_code_is_reported_and_the_old_code_keeps_serving(
        self, dev: Dev, docker_sdk: Any
    ) -> None:
        app = connect(dev.path)
        helpers = dev.path.parent / "red_helpers.py"
        helpers.write_text('VERSION = ("v3"\n', encoding="utf-8")
        text = dev.wait_for("red_helpers.py:1: SyntaxError")
        line = next(x for x in text.splitlines() if "red_helpers.py:1: SyntaxError" in x)
        assert line.startswith("dev | red: ")
        assert "still running the previous code" in line
        assert app.send_task("tasks.red_version").get(timeout=30) == "v2"

        helpers.write_text('import no_such_module_xyz\nVERSION = "v3"\n', encoding="utf-8")
        dev.wait_for("red_helpers.py:1: ModuleNotFoundError")
        assert app.send_task("tasks.red_version").get(timeout=30) == "v2"

        helpers.write_text('VERSION = "v3"\n', encoding="utf-8")
        _value_becomes(app, "v3")

    def test_a_terminate_group_reloads_in_place_and_alone(self, dev: Dev, docker_sdk: Any) -> None:
        app = connect(dev.path)
        assert app.send_task("tasks.blue_version").get(timeout=30) == "b1"
        project = load(dev.path, full=False).topology.name
        time.sleep(0.5)  # blue's record after the task that imported blue_helpers
        before, ids = _records(dev.path), _ids(docker_sdk, project)
        (dev.path.parent / "blue_helpers.py").write_text('VERSION = "b2"\n', encoding="utf-8")
        _value_becomes(app, "b2", task="tasks.blue_version")
        after = _records(dev.path)
        changed = {name for name in before if after[name] != before[name]}
        assert changed
        assert all("-blue-" in name for name in changed), changed
        assert _ids(docker_sdk, project) == ids, "no container was replaced"
        dev.wait_for("blue_helpers.py)")
        assert app.send_task("tasks.red_version").get(timeout=30) == "v3"

    def test_a_topology_edit_rebuilds_and_recreates_what_changed(
        self, dev: Dev, docker_sdk: Any
    ) -> None:
        project = load(dev.path, full=False).topology.name
        ids = _ids(docker_sdk, project)
        text = dev.path.read_text(encoding="utf-8")
        edited = text.replace("concurrency: 2, replicas: 1", "concurrency: 3, replicas: 1", 1)
        assert edited != text
        dev.path.write_text(edited, encoding="utf-8")
        dev.wait_for("rebuilding the image and running `stack up`")
        dev.wait_for("recreated, ", timeout=180)
        now = _ids(docker_sdk, project)
        red = {name for name in ids if "-red-" in name}
        assert red
        assert all(now[name] != ids[name] for name in red), "red was recreated"
        assert all(now[name] == ids[name] for name in ids if "-blue-" in name)
        app = connect(dev.path)
        assert app.send_task("tasks.red_version").get(timeout=60) == "v3"

    def test_ctrl_c_leaves_the_stack_running(self, dev: Dev, docker_sdk: Any) -> None:
        app = connect(dev.path)
        dev.process.send_signal(signal.SIGINT)
        assert dev.process.wait(timeout=30) == 0
        assert "the stack keeps running" in dev.dev_lines()[-1]
        assert app.send_task("tasks.red_version").get(timeout=30) == "v3"
