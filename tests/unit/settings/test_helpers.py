"""Celery's helper tasks go where Celery's router sends the task they wrap.

Each canvas primitive is published for real (Celery's memory transport, a cache result
backend: no network), through an app configured as producers and workers are; the queue
of every published helper is compared with what Celery's router answers for the wrapped
task with the same settings, and with `stack routes` (Resolver). Nothing here computes a
queue by itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import Celery, chain, chord, chunks, group, xmap, xstarmap
from celery.exceptions import DuplicateTaskNameWarning
from celery.signals import before_task_publish

from stack.producer import configure, release_results
from stack.settings import helpers
from stack.settings.celeryconf import all_routes, helper_queue
from stack.settings.routes import Resolver, helper_routes
from stack.settings.rules import Rules
from stack.topology.check import helper_destination
from stack.topology.load import load, load_string
from stack.topology.model import Topology
from tests.helpers import COLORS, RABBIT

# The default queue consumed; a priority route; a glob that catches some helpers.
CONSUMED = """\
name: shop
app: tasks:app
queues:
  a: {max_priority: 5}
  b: {}
routes:
  tasks.exact: {queue: a, priority: 3}
  "tasks.*": b
  "celery.backend_*": b
workers:
  one: {queues: [a, b, celery]}
"""
# Only ignore_result groups on the first queue: helpers that wrap no task go to the second.
IGNORING = """\
name: quiet
app: tasks:app
backend: db+sqlite:///results.db
queues: [fast, slow]
routes:
  tasks.fast: fast
workers:
  w: {queues: [fast], ignore_result: true}
  v: {queues: [slow]}
beat:
  tick: {task: tasks.fast, every: 5}
"""
TOPOLOGIES = {
    "colors": (COLORS / "topology.yaml").read_text(encoding="utf-8"),
    "rabbit": RABBIT,
    "consumed": CONSUMED,
    "ignoring": IGNORING,
}
INNER = ["tasks.add", "tasks.tsum", "tasks.red_task", "tasks.exact", "tasks.fast", "shop.x",
         "x.y", "unrouted"]  # fmt: skip


def topology_of(key: str) -> Topology:
    return load_string(TOPOLOGIES[key], "topology.yaml").topology


@pytest.fixture(params=list(TOPOLOGIES))
def topology(request: pytest.FixtureRequest) -> Topology:
    return topology_of(request.param)


@pytest.fixture
def app(topology: Topology) -> Iterator[Any]:
    """An app as stack.connect configures one, finalized (Celery's builtins registered)."""
    app = Celery("t", set_as_current=False)
    configure(app, topology, "memory://", "cache+memory://")
    with warnings.catch_warnings():
        # Other tests' apps leave shared tasks of the same names behind.
        warnings.simplefilter("ignore", DuplicateTaskNameWarning)
        app.finalize(auto=True)
    yield app
    app.close()


@pytest.fixture
def published() -> Iterator[list[tuple[str, str]]]:
    """(task, queue) of every message published while the test runs."""
    sent: list[tuple[str, str]] = []

    def record(sender: str, routing_key: str, **_: Any) -> None:
        sent.append((sender, routing_key))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


def celery_queue(app: Any, task: str) -> str:
    """What Celery's router answers for a task sent by name, with the kit's settings."""
    return str(app.amqp.router.route({}, task)["queue"].name)


def queue_name(app: Any, routing_key: str) -> str:
    """The queue a published routing key reaches (the kit binds queue q by key q, or by
    its own routing_key)."""
    [queue] = [q for q in app.amqp.queues.values() if q.routing_key == routing_key]
    return str(queue.name)


# Every way canvas sends a helper that wraps a task: (helper, send(app, signature)).
SENDS: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("celery.map", lambda app, sig: xmap(sig, [[1]], app=app).apply_async()),
    ("celery.map", lambda app, sig: group(xmap(sig, [[1]], app=app)).apply_async()),
    ("celery.starmap", lambda app, sig: xstarmap(sig, [(1,)], app=app).apply_async()),
    ("celery.starmap", lambda app, sig: chunks(sig, [(1,), (2,)], 1, app=app).apply_async()),
    ("celery.starmap",
     lambda app, sig: chain(xstarmap(sig, [(1,)], app=app), app.signature("z")).apply_async()),
    ("celery.chunks", lambda app, sig: group(chunks(sig, [(1,)], 1, app=app)).apply_async()),
    ("celery.starmap",
     lambda app, sig: chord([xstarmap(sig, [(1,)], app=app)], app.signature("z")).apply_async()),
    ("celery.starmap", lambda app, sig: app.send_task("celery.starmap", kwargs={"task": sig,
                                                                                 "it": []})),
    ("celery.chord_unlock",  # how Celery's backends without chords of their own send it
     lambda app, sig: app.backend.fallback_chord_unlock(app.GroupResult("g", []), sig)),
    ("celery.chord_unlock",  # as earlier Celery versions sent it: no queue of its own
     lambda app, sig: app.tasks["celery.chord_unlock"].apply_async(("g", sig), {"result": []})),
]  # fmt: skip


@pytest.mark.parametrize(("helper", "send"), SENDS)
def test_a_helper_goes_where_celery_routes_the_task_it_wraps(
    app: Any, topology: Topology, published: list[tuple[str, str]], helper: str, send: Any
) -> None:
    resolver = Resolver(topology)
    for inner in INNER:
        published.clear()
        send(app, app.signature(inner))
        sent = [queue_name(app, key) for name, key in published if name == helper]
        assert sent, f"no {helper} published: {published}"
        assert set(sent) == {celery_queue(app, inner)}, (helper, inner)
        assert resolver.resolve_helper(helper, inner).queue == sent[0]


def test_a_queue_set_on_the_wrapped_signature_is_followed(
    app: Any, published: list[tuple[str, str]]
) -> None:
    default = app.conf.task_default_queue
    sig = app.signature("unrouted").set(queue=default)
    chunks(sig, [(1,)], 1, app=app).apply_async()
    [(name, key)] = published
    assert (name, queue_name(app, key)) == ("celery.starmap", default)


@pytest.mark.parametrize("helper", ["celery.accumulate", "celery.backend_cleanup"])
def test_a_helper_that_wraps_no_task_takes_a_consumed_queue(
    app: Any, topology: Topology, published: list[tuple[str, str]], helper: str
) -> None:
    app.tasks[helper].apply_async()
    [(_, key)] = published
    queue = queue_name(app, key)
    assert queue == celery_queue(app, helper) == Resolver(topology).resolve(helper).queue
    # stack validate answers without Celery: the same queue
    assert helper_destination(topology, Rules(topology.routes), helper)[0] == queue
    assert topology.consumer_groups().get(queue), f"{helper} -> {queue}, which nobody consumes"


def test_helpers_wrapping_no_task_prefer_a_queue_whose_groups_store_results() -> None:
    assert helper_queue(topology_of("colors")) == "red_queue"  # `celery` has no consumer
    assert helper_queue(topology_of("consumed")) is None  # Celery's default queue is
    assert helper_queue(topology_of("ignoring")) == "slow"  # fast's group stores nothing
    nobody = load_string("name: x\napp: t:app\nqueues: [a]\n").topology
    assert helper_queue(nobody) is None


def test_the_helper_router_heads_task_routes_and_the_fallback_ends_them() -> None:
    routes = all_routes(topology_of("colors"))
    assert routes[0] == helpers.ROUTER
    assert routes[-1] == {"celery.*": {"queue": "red_queue"}}
    assert all_routes(topology_of("consumed"))[-1] != {"celery.*": {"queue": "celery"}}


def test_the_router_answers_for_helpers_only() -> None:
    class Sent:  # what Celery passes as the task being sent: the router reads its app
        app = Celery("t", set_as_current=False)

    sig = {"task": "tasks.add", "args": (), "kwargs": {}, "options": {}}
    assert helpers.route("tasks.add", (), {"task": sig}, {}, task=Sent()) is None
    assert helpers.route("celery.accumulate", (), {}, {}, task=Sent()) is None
    assert helpers.route("celery.map", (), {"task": sig}, {}) is None  # no app to ask
    answer = helpers.route("celery.map", (), {"task": sig}, {}, task=Sent())
    assert answer is not None
    assert answer["queue"].name == "celery"


@pytest.mark.parametrize(
    ("sig", "lead"),
    [
        ({"task": "tasks.a"}, "tasks.a"),
        ({"task": "celery.chain", "kwargs": {"tasks": [{"task": "tasks.b"}, {"task": "c"}]}},
         "tasks.b"),
        ({"task": "celery.group", "kwargs": {"tasks": [{"task": "tasks.c"}]}}, "tasks.c"),
        ({"task": "celery.chord", "kwargs": {"header": {"task": "celery.group", "kwargs": {
            "tasks": [{"task": "tasks.d"}]}}, "body": {"task": "e"}}}, "tasks.d"),
        ({"task": "celery.map", "kwargs": {"task": {"task": "tasks.e"}, "it": []}}, "tasks.e"),
        ({"task": "celery.chain", "kwargs": {"tasks": []}}, None),
        ("not a signature", None),
    ],
)  # fmt: skip
def test_lead_is_the_task_that_runs_first(sig: Any, lead: str | None) -> None:
    found = helpers.lead(sig)
    assert (found["task"] if found is not None else None) == lead


def test_reachable_helpers_follow_the_backend_and_beat() -> None:
    assert list(helpers.reachable(topology_of("colors"))) == [
        "celery.map", "celery.starmap", "celery.chunks", "celery.accumulate",
    ]  # fmt: skip
    assert "celery.accumulate" not in helpers.reachable(topology_of("rabbit"))  # no backend
    sqlite = helpers.reachable(topology_of("ignoring"))
    assert {"celery.chord_unlock", "celery.backend_cleanup"} <= set(sqlite)


def test_helper_rows_of_stack_routes() -> None:
    t = load(COLORS / "topology.yaml").topology
    rows = {r.task: r for r in helper_routes(t)}
    assert rows["celery.starmap"].queue is None
    assert rows["celery.starmap"].follows == "its task"
    assert (rows["celery.accumulate"].queue, rows["celery.accumulate"].workers) == (
        "red_queue", ("red", "colorful"),
    )  # fmt: skip
    wrapped = {r.task: r for r in helper_routes(t, inner="tasks.multiply")}
    assert set(wrapped) == {"celery.map", "celery.starmap", "celery.chunks"}
    assert {r.queue for r in wrapped.values()} == {"blue_queue"}
    assert wrapped["celery.map"].as_dict()["follows"] == "tasks.multiply"


def test_release_results_stops_unsubscribing_at_exit() -> None:
    """A result collected after release_results sends nothing to Redis (which at exit
    printed a traceback)."""
    app = Celery("t", set_as_current=False, backend="redis://127.0.0.1:1/0")
    consumer = app.backend.result_consumer
    calls: list[str] = []

    class PubSub:
        def unsubscribe(self, key: str) -> None:
            calls.append(key)

        def close(self) -> None:
            calls.append("close")

    consumer._pubsub = PubSub()
    consumer.subscribed_to.update({b"celery-task-meta-a", b"celery-task-meta-b"})
    consumer.cancel_for("a")
    assert calls == [b"celery-task-meta-a"]  # what an AsyncResult's __del__ does
    release_results(app)
    consumer.cancel_for("b")
    assert calls == [b"celery-task-meta-a", "close"]
