"""Routing proven on real brokers (testcontainers): each message lands where `stack routes` says.

Redis and RabbitMQ run from the offline images with a password, their ports published on
127.0.0.1 only. Every task the colour topology names (and the three colours) is published
through an app configured by the kit; the broker's own queue depths must then match the
route table, and a real in-process worker on red_queue must run exactly the red work.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from stack.settings.routes import named_tasks, resolve
from stack.topology.load import load
from tests.helpers import COLORS

pytestmark = [
    pytest.mark.docker,
    # Celery shares every @app.task with each app finalized later. When other tests have
    # imported the demo's tasks.py from another copy, its names reach the probe app twice;
    # a worker process imports it once.
    pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning"),
]

TASKS = [*named_tasks(load(COLORS / "topology.yaml").topology), "tasks.green_task",
         "tasks.blue_task", "tasks.unrouted"]  # fmt: skip


def node_name() -> str:
    from celery import current_task

    return str(current_task.request.hostname)


def configured_app(broker_url: str, backend_url: str | None) -> Any:
    """A fresh app configured by the kit, with colour tasks of the demo's names.

    Not the demo's own module-level app: other tests configure that one for their stacks.
    """
    from celery import Celery

    from stack.producer import configure

    app = Celery("probe", set_as_current=False)
    for colour in ("red", "green", "blue"):
        # One callable for every app: Celery 5.7 warns when a name changes callables.
        app.task(name=f"tasks.{colour}_task")(node_name)
    return configure(app, load(COLORS / "topology.yaml").topology, broker_url, backend_url)


def depths(app: Any, queues: list[str]) -> dict[str, int]:
    """Message count per queue, as the broker itself reports it."""
    from amqp.exceptions import ChannelError

    out = {}
    with app.connection_for_write() as conn:
        for name in queues:
            channel = conn.channel()
            try:
                _, count, _ = channel.queue_declare(queue=name, passive=True)
            except ChannelError as exc:  # kombu's Redis keeps no key for an empty queue
                if "NOT_FOUND" not in str(exc):
                    raise
                count = 0
            finally:
                channel.close()
            out[name] = count
    return out


def purge(app: Any, queues: list[str]) -> None:
    with app.connection_for_write() as conn:
        for name in queues:
            conn.default_channel.queue_purge(name)


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_messages_land_where_routes_says(broker: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{broker}_url")
    app = configured_app(f"{url}/0" if broker == "redis" else url, None)
    topology = load(COLORS / "topology.yaml").topology
    queues = topology.all_queues
    try:
        with app.connection_for_write() as conn:  # declare every queue, as workers do
            for queue in app.amqp.queues.values():
                queue.bind(conn.default_channel).declare()
        purge(app, queues)
        for name in TASKS:
            app.send_task(name, ignore_result=True)
        expected = Counter(route.queue for route in resolve(topology, TASKS))
        assert depths(app, queues) == {q: expected.get(q, 0) for q in queues}
        assert expected["celery"] == 1  # tasks.unrouted: the default queue
    finally:
        purge(app, queues)
        app.close()


# Celery 5.7's Redis result backend calls redis-py's deprecated setex (third-party code).
@pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")
def test_red_worker_runs_only_red_work(redis_url: str) -> None:
    from celery.contrib.testing.worker import start_worker

    app = configured_app(f"{redis_url}/0", f"{redis_url}/1")
    try:
        purge(app, ["red_queue", "green_queue"])
        red = [app.send_task("tasks.red_task") for _ in range(5)]
        app.send_task("tasks.green_task", ignore_result=True)
        with start_worker(
            app, pool="solo", queues=["red_queue"], perform_ping_check=False,
            hostname="red@probe", shutdown_timeout=10,
        ):  # fmt: skip
            ran_on = [r.get(timeout=20) for r in red]
        assert len(ran_on) == 5
        assert len(set(ran_on)) == 1  # the one worker, consuming red_queue only
        assert depths(app, ["green_queue", "red_queue"]) == {"green_queue": 1, "red_queue": 0}
    finally:
        purge(app, ["red_queue", "green_queue"])
        app.close()
