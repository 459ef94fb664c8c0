"""Poison messages on both brokers: a task that kills its worker process runs max_deliveries
times, then waits in the dead-letter queue; the other tasks all complete; `stack requeue`
sends it back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import TimeoutError as ResultTimeout

from stack.deploy.ops.up import up
from stack.topology.load import load
from tests.helpers import connect, invoke

pytestmark = pytest.mark.docker

CRASH = """

@app.task(name="tasks.crash")
def crash() -> None:
    import os

    os._exit(1)  # the pool process dies, as under the OOM killer
"""
DEATH = "exited with 'exitcode 1'"  # billiard's line for each process that died
TIMEOUT = 90.0


def prepare(path: Path) -> None:
    with (path.parent / "tasks.py").open("a", encoding="utf-8") as tasks:
        tasks.write(CRASH)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("routes:", "routes:\n  tasks.crash: red_queue", 1), encoding="utf-8"
    )
    up(path, timeout=150)


def top(path: Path) -> Any:
    return json.loads(invoke("top", str(path), "--once", "--json").output)


def deaths(docker_sdk: Any, project: str) -> int:
    found = docker_sdk.containers.list(filters={"label": f"io.stack.project={project}"})
    return sum(c.logs().decode("utf-8", "replace").count(DEATH) for c in found)


def wait_dead(path: Path, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while (seen := top(path)["dead_letters"]) != count:
        assert time.monotonic() < deadline, f"dead letters: {seen}, not {count}"
        time.sleep(0.5)


class Poison:
    source = ""

    @pytest.fixture(scope="class")
    @classmethod
    def path(cls, stack_factory: Callable[..., Path]) -> Path:
        return stack_factory(cls.source, "t-poison", prepare)

    def test_a_task_that_kills_its_process_ends_in_the_dead_letter_queue(
        self, path: Path, docker_sdk: Any
    ) -> None:
        project = load(path, full=False).topology.name
        app = connect(path)
        poison = app.send_task("tasks.crash")
        others = [app.send_task("tasks.red_task", kwargs={"delay": 0.2}) for _ in range(8)]
        assert all(r.get(timeout=TIMEOUT).startswith(("red@", "colorful@")) for r in others)
        with pytest.raises(Exception, match="max_deliveries") as failed:
            poison.get(timeout=TIMEOUT)
        assert not isinstance(failed.value, ResultTimeout)
        wait_dead(path, 1)
        assert deaths(docker_sdk, project) == 3, "max_deliveries: 3, the default"
        red = next(q for q in top(path)["queues"] if q["name"] == "red_queue")
        assert red["pending"] == 0

        said = invoke("requeue", str(path)).output
        assert "1 back to red_queue" in said
        # Back with a fresh count: three more deaths, then the dead-letter queue again.
        deadline = time.monotonic() + TIMEOUT
        while deaths(docker_sdk, project) < 6:
            assert time.monotonic() < deadline, "the requeued task ran again"
            time.sleep(0.5)
        wait_dead(path, 1)
        assert deaths(docker_sdk, project) == 6
        assert (
            app.send_task("tasks.red_task").get(timeout=TIMEOUT).startswith(("red@", "colorful@"))
        )


class TestRedis(Poison):
    source = "topology.yaml"


class TestRabbitMQ(Poison):
    source = "topology-rabbitmq.yaml"
