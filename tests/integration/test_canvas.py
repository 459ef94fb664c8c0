"""Every Celery canvas primitive on the colour demo, on Redis and on RabbitMQ (results in
Redis): the result is right and every part ran on a group that consumes its queue.

The demo's default queue `celery` has no consumer, so a part sent there would never run:
each test would time out, and the last test finds the queue empty. Each part's queue and
worker come from its result (the demo sets result_extended); the queue each part should
take is what `stack routes` answers (Celery's router with the kit's settings), helpers
(celery.starmap, ...) by the task they wrap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stack.cli.main import app as cli
from stack.settings.helpers import FOLLOWING
from stack.settings.routes import Resolver
from stack.topology.load import load
from tests.helpers import ROOT

pytestmark = pytest.mark.docker

TIMEOUT = 60
LABEL = 21  # enqueue.py's label column
Sent = tuple[Any, list[Any]]  # the value, and the results whose parts are checked


def connect(path: Path) -> Any:
    """stack.connect, in a process that already imported another copy of the demo's tasks.py
    (Celery warns that the second copy's same-named tasks were not registered; a producer
    sends by name, so that does not matter)."""
    from celery.exceptions import DuplicateTaskNameWarning

    import stack

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateTaskNameWarning)
        app = stack.connect(path)
        app.finalize(auto=True)
    return app


def run(sig: Any) -> Sent:
    result = sig.apply_async()
    return result.get(timeout=TIMEOUT), [result]


def link(app: Any) -> Sent:
    callback = app.signature("tasks.multiply", (10,))
    done = callback.freeze()
    first = app.signature("tasks.add", (2, 2)).apply_async(link=callback)
    return done.get(timeout=TIMEOUT), [first, done]


def link_error(app: Any) -> Sent:
    errback = app.signature("tasks.blue_on_error")
    handled = errback.freeze()
    failed = app.signature("tasks.green_fail").apply_async(link_error=errback)
    error = failed.get(timeout=TIMEOUT, propagate=False)
    assert isinstance(error, ValueError), error
    return handled.get(timeout=TIMEOUT) == failed.id, [failed, handled]


def si(app: Any) -> Sent:
    from celery import chain

    return run(
        chain(
            app.signature("tasks.add", (1, 1)),
            app.signature("tasks.multiply", (3, 3), immutable=True),
        )
    )


def chain_(app: Any) -> Sent:
    from celery import chain

    return run(chain(app.signature("tasks.add", (2, 3)), app.signature("tasks.multiply", (10,))))


def group_(app: Any) -> Sent:
    from celery import group

    return run(
        group(
            app.signature("tasks.add", (1, 1)),
            app.signature("tasks.multiply", (2, 3)),
            app.signature("tasks.tsum", ([1, 2, 3],)),
        )
    )


def chord_(app: Any) -> Sent:
    from celery import chord

    header = [app.signature("tasks.add", (i, i)) for i in range(10)]
    return run(chord(header, app.signature("tasks.tsum")))


def map_(app: Any) -> Sent:
    from celery import xmap

    return run(xmap(app.signature("tasks.tsum"), [[1, 2], [3, 4]], app=app))


def starmap(app: Any) -> Sent:
    from celery import xstarmap

    return run(xstarmap(app.signature("tasks.add"), [(1, 1), (2, 2)], app=app))


def chunks(app: Any) -> Sent:
    from celery import chunks

    pairs = [(i, i) for i in range(6)]
    return run(chunks(app.signature("tasks.add"), pairs, 2, app=app))


def chain_of_chords(app: Any) -> Sent:
    from celery import chain, chord

    sums = chord([app.signature("tasks.add", (1, 1)), app.signature("tasks.add", (2, 2))],
                 app.signature("tasks.tsum"))  # fmt: skip
    products = chord([app.signature("tasks.multiply", (2,)), app.signature("tasks.multiply", (3,))],
                     app.signature("tasks.tsum"))  # fmt: skip
    return run(chain(sums, products))


def retry(app: Any) -> Sent:
    value, results = run(app.signature("tasks.green_flaky", (2,)))
    assert results[0].retries == 2
    return value, results


def countdown(app: Any) -> Sent:
    return run(app.signature("tasks.red_task").set(countdown=1))


def eta(app: Any) -> Sent:
    return run(app.signature("tasks.blue_task").set(eta=datetime.now(UTC) + timedelta(seconds=1)))


def expires(app: Any) -> Sent:
    return run(app.signature("tasks.green_task").set(expires=TIMEOUT))


def replace(app: Any) -> Sent:
    """Task.replace with a group: Celery gathers the group's results with celery.accumulate."""
    return run(app.signature("tasks.blue_fanout", (3,)))


@dataclass(frozen=True)
class Primitive:
    name: str
    send: Callable[[Any], Sent]
    expected: Any
    wraps: str | None = None  # the task whose route a helper part (celery.*) takes

    def __str__(self) -> str:
        return self.name


def node(expected: str) -> Callable[[Any], bool]:
    return lambda value: str(value).partition("@")[0] in {expected, "colorful"}


PRIMITIVES = [
    Primitive("link", link, 40),
    Primitive("link_error", link_error, True),
    Primitive("si", si, 9),
    Primitive("chain", chain_, 50),
    Primitive("group", group_, [2, 6, 6]),
    Primitive("chord", chord_, 90),
    Primitive("map", map_, [3, 7], "tasks.tsum"),
    Primitive("starmap", starmap, [2, 4], "tasks.add"),
    Primitive("chunks", chunks, [[0, 2], [4, 6], [8, 10]], "tasks.add"),
    Primitive("chain_of_chords", chain_of_chords, 30),
    Primitive("retry_with_countdown", retry, 2),
    Primitive("countdown", countdown, node("red")),
    Primitive("eta", eta, node("blue")),
    Primitive("expires", expires, node("green")),
    Primitive("replace_with_a_group", replace, [0, 2, 4]),
]


def parts(results: list[Any]) -> list[Any]:
    """Every task behind the results: themselves, their parents, a group's members."""
    found, todo, seen = [], list(results), set()
    while todo:
        item = todo.pop()
        if item is None or item.id in seen:
            continue
        seen.add(item.id)
        children = getattr(item, "results", None)
        if children is None:
            found.append(item)
        else:
            todo += children
        todo.append(item.parent)
    return found


class CanvasChecks:
    """The tests, for a class that gives the `path` of a running colour stack."""

    @pytest.fixture(scope="class")
    @classmethod
    def app(cls, path: Path) -> Any:
        return connect(path)

    @pytest.fixture(scope="class")
    @classmethod
    def resolver(cls, path: Path) -> Resolver:
        return Resolver(load(path).topology)

    @pytest.mark.parametrize("primitive", PRIMITIVES, ids=str)
    def test_primitive_runs_every_part_on_a_group_of_its_queue(
        self, app: Any, resolver: Resolver, primitive: Primitive
    ) -> None:
        value, results = primitive.send(app)
        if callable(primitive.expected):
            assert primitive.expected(value), value
        else:
            assert value == primitive.expected
        found = parts(results)
        assert found, "no part to check"
        default = resolver.topology.default_queue
        for part in found:
            # Celery sends a task's callbacks and the next step of its chain before it
            # stores the task's own result: a part may finish before its parent's is there.
            part.get(timeout=TIMEOUT, propagate=False)
            name = part.name
            assert name is not None, "result_extended is off: the part's task is unknown"
            if name in FOLLOWING:
                assert primitive.wraps is not None, f"{name} in {primitive}"
                route = resolver.resolve_helper(name, primitive.wraps)
            else:
                route = resolver.resolve(name)
            assert part.queue == route.queue != default, f"{name} came from {part.queue}"
            group = str(part.worker).partition("@")[0]
            assert group in route.workers, f"{name} ran on {part.worker}, not {route.workers}"

    def test_demo_enqueue_prints_every_primitive_ok(self, path: Path) -> None:
        done = subprocess.run(
            [sys.executable, str(path.parent / "enqueue.py"), str(path)],
            capture_output=True, text=True, timeout=180, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        lines = done.stdout.splitlines()
        for label in (
            "link",
            "link_error",
            "si",
            "chain",
            "group",
            "chord",
            "map",
            "starmap",
            "chunks",
            "chain of chords",
            "retry",
            "countdown/eta/expires",
            "replace",
        ):
            [line] = [x for x in lines if x[:LABEL].rstrip() == label]
            assert line.endswith("  ok"), line

    def test_nothing_waits_on_the_unconsumed_default_queue(self, path: Path) -> None:
        topology = load(path).topology
        assert topology.default_queue not in topology.consumer_groups()
        result = CliRunner().invoke(cli, ["ps", str(path), "--json"])
        assert result.exit_code == 0, result.output
        queues = {q["name"]: q for q in json.loads(result.output)["queues"]}
        assert queues[topology.default_queue]["depth"] == 0, queues


class TestRedis(CanvasChecks):
    @pytest.fixture(scope="class")
    @classmethod
    def path(cls, stack_factory: Any) -> Path:
        return Path(stack_factory("topology.yaml", "t-canvas"))


class TestRabbitMQ(CanvasChecks):
    @pytest.fixture(scope="class")
    @classmethod
    def path(cls, stack_factory: Any) -> Path:
        return Path(stack_factory("topology-rabbitmq.yaml", "t-canvas-rmq"))
