"""The kit's producer and transport on a real Redis, with a real in-process Celery worker.

- kombu's Redis channel builds a redis.Redis per command; the kit's transport keeps one per
  channel, on kombu's own pool, and follows a new pool after a disconnect or a fork.
- A group with `ignore_result: true` stores no result even of `.delay()`, whose message
  carries Celery's default ignore_result=False, which a worker honours over its settings:
  the kit's producers send True, and the group's workers ignore a False from any other.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from stack.topology.load import load_string

pytestmark = [
    pytest.mark.docker,
    # Celery 5.7's Redis result backend calls redis-py's deprecated setex (third-party code).
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]

TOPOLOGY = """\
name: probe
app: tasks:app
queues: [quiet, loud]
routes:
  "probe.quiet": quiet
  "probe.loud": loud
workers:
  quiet: {queues: [quiet], workload: short, ignore_result: true}
  loud: {queues: [loud], workload: short}
"""


def ran(key: str) -> str:
    """The task body: leaves a mark in Redis (database 2), returns its key."""
    import os

    import redis

    redis.Redis.from_url(os.environ["PROBE_REDIS"] + "/2").rpush(key, 1)
    return key


def kit_app(name: str, redis_url: str, group: str | None = None) -> Any:
    from celery import Celery

    from stack.producer import configure

    app = Celery(name, set_as_current=False)
    for task in ("probe.quiet", "probe.loud"):
        app.task(name=task)(ran)
    topology = load_string(TOPOLOGY, "topology.yaml").topology
    return configure(app, topology, f"{redis_url}/0", f"{redis_url}/1", group=group)


def plain_app(redis_url: str) -> Any:
    from celery import Celery

    app = Celery("foreign", broker=f"{redis_url}/0", backend=f"{redis_url}/1",
                 set_as_current=False)  # fmt: skip
    for task in ("probe.quiet", "probe.loud"):
        app.task(name=task)(ran)
    return app


def queue_depth(app: Any, queue: str) -> int:
    with app.connection_for_write() as conn:
        return int(conn.default_channel.client.llen(queue))


def test_kit_transport_keeps_one_redis_client_per_channel_and_follows_a_new_pool(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    from stack.container.transport import Transport

    built = []
    original = redis.Redis.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    app = kit_app("transport", redis_url)
    try:
        with app.connection_for_write() as conn:
            conn.default_channel.client.delete("quiet")
        with app.producer_or_acquire() as producer:
            assert isinstance(producer.connection.transport, Transport)
            app.send_task("probe.quiet", producer=producer)  # the channel's first client
            monkeypatch.setattr(redis.Redis, "__init__", counting)
            for _ in range(50):
                app.send_task("probe.quiet", producer=producer)
            assert built == []  # kombu's own transport: one per publish, 50
            channel = producer.channel
            old_pool = channel.pool
            channel._disconnect_pools()  # what kombu does after a fork
            app.send_task("probe.quiet", producer=producer)
            assert channel._command_client.connection_pool is channel.pool is not old_pool
        monkeypatch.undo()
        assert queue_depth(app, "quiet") == 52
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.client.delete("quiet")
        app.close()


def test_ignoring_group_stores_no_result_of_delay_or_of_a_plain_celery_producer(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis
    from celery.contrib.testing.worker import start_worker

    monkeypatch.setenv("PROBE_REDIS", redis_url)
    marks = redis.Redis.from_url(f"{redis_url}/2")
    backend = redis.Redis.from_url(f"{redis_url}/1")
    marks.delete("quiet-mark", "loud-mark")
    producer = kit_app("producer", redis_url)
    foreign = plain_app(redis_url)  # a producer the kit did not configure
    quiet_worker = kit_app("quiet-worker", redis_url, "quiet")
    loud_worker = kit_app("loud-worker", redis_url, "loud")
    try:
        quiet = producer.tasks["probe.quiet"].delay("quiet-mark")
        loud = producer.tasks["probe.loud"].delay("loud-mark")
        # Celery's default sends ignore_result=False; the group's setting must still hold.
        unasked = foreign.tasks["probe.quiet"].apply_async(("quiet-mark",), queue="quiet")
        assert unasked.ignored is False
        # One in-process worker at a time: two at once in one process did not always stop.
        with start_worker(quiet_worker, pool="solo", queues=["quiet"], perform_ping_check=False,
                          hostname="quiet@probe", shutdown_timeout=10):  # fmt: skip
            for _ in range(200):
                if marks.llen("quiet-mark") == 2:
                    break
                time.sleep(0.1)
        with start_worker(loud_worker, pool="solo", queues=["loud"], perform_ping_check=False,
                          hostname="loud@probe", shutdown_timeout=10):  # fmt: skip
            assert loud.get(timeout=20) == "loud-mark"
        assert marks.llen("quiet-mark") == 2  # both quiet tasks ran
        assert not backend.exists(f"celery-task-meta-{unasked.id}")
        assert quiet.ignored
        assert quiet.get(timeout=0.1) is None
        assert not backend.exists(f"celery-task-meta-{quiet.id}")
        assert backend.exists(f"celery-task-meta-{loud.id}")
    finally:
        marks.delete("quiet-mark", "loud-mark")
        for app in (producer, foreign, quiet_worker, loud_worker):
            app.close()
