"""The producer's send guards (stack.settings.guards): a warning for a task due beyond the
broker's visibility timeout, per app."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery

from stack.producer import configure
from stack.settings.guards import delay_seconds
from stack.topology.load import load, load_string
from tests.helpers import COLORS

DEMOS = [COLORS / "topology.yaml", COLORS / "topology-rabbitmq.yaml"]


def test_eta_guard_warns_beyond_visibility_timeout(caplog: pytest.LogCaptureFixture) -> None:
    text = (
        (COLORS / "topology.yaml")
        .read_text()
        .replace("broker: redis", "broker: {type: redis, visibility_timeout: 60}")
    )
    topology = load_string(text).topology
    app = configure(Celery("t", set_as_current=False), topology, "memory://", None)
    with caplog.at_level(logging.WARNING, logger="stack.settings.guards"):
        app.send_task("tasks.red_task", countdown=30)
        assert not [r for r in caplog.records if r.name == "stack.settings.guards"]
        app.send_task("tasks.red_task", countdown=600)
    [record] = [r for r in caplog.records if r.name == "stack.settings.guards"]
    assert "beyond the Redis visibility_timeout (60 s)" in record.getMessage()


def test_guard_is_per_app(caplog: pytest.LogCaptureFixture) -> None:
    """A stricter topology configured in the same process must not warn for another app."""
    strict = (
        (COLORS / "topology.yaml")
        .read_text()
        .replace("broker: redis", "broker: {type: redis, visibility_timeout: 5}")
    )
    configure(Celery("a", set_as_current=False), load_string(strict).topology, "memory://", None)
    relaxed = configure(
        Celery("b", set_as_current=False), load(DEMOS[0]).topology, "memory://", None
    )
    with caplog.at_level(logging.WARNING, logger="stack.settings.guards"):
        relaxed.send_task("tasks.red_task", countdown=30)
    assert not [r for r in caplog.records if r.name == "stack.settings.guards"]


def test_delay_seconds_from_countdown_or_eta() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert delay_seconds(None, None, now) is None
    assert delay_seconds(12, None, now) == 12.0
    later = now + timedelta(seconds=90)
    assert delay_seconds(None, later.isoformat(), now) == 90.0
    assert delay_seconds(None, later, now) == 90.0


QUIET = """\
name: quiet
app: tasks:app
queues: [quiet, loud]
routes:
  tasks.quiet: quiet
  tasks.loud: loud
workers:
  q: {queues: [quiet], ignore_result: true}
  l: {queues: [loud, celery]}
"""


def test_a_helper_is_sent_ignore_result_where_the_task_it_wraps_would_be() -> None:
    """The guard finds a helper's queue as send_task does: by the task it wraps."""
    from celery import chunks
    from celery.signals import before_task_publish

    app = configure(Celery("t", set_as_current=False), load_string(QUIET).topology,
                    "memory://", "cache+memory://")  # fmt: skip
    sent: list[tuple[str, str, bool]] = []

    def record(sender: str, routing_key: str, headers: dict[str, object], **_: object) -> None:
        sent.append((sender, routing_key, bool(headers.get("ignore_result"))))

    before_task_publish.connect(record, weak=False)
    try:
        for name in ("tasks.quiet", "tasks.loud"):
            chunks(app.signature(name), [(1,)], 1, app=app).apply_async()
    finally:
        before_task_publish.disconnect(record)
    assert sent == [("celery.starmap", "quiet", True), ("celery.starmap", "loud", False)]


@pytest.mark.parametrize("source", ["topology.yaml", "topology-rabbitmq.yaml"])
def test_every_message_is_stamped_with_the_time_it_was_sent(source: str) -> None:
    """The oldest waiting message's age (settings/depths.py) reads this stamp."""
    import time

    from stack.settings.depths import age, sent_at

    topology = load(COLORS / source).topology
    app = configure(Celery("t", set_as_current=False), topology, "memory://", None)
    with app.connection_for_write() as conn:
        for queue in app.conf.task_queues:  # kombu's memory broker: one per process
            queue(conn.default_channel).declare()
            queue(conn.default_channel).purge()
    before = int(time.time())
    app.send_task("tasks.red_task")
    app.send_task("tasks.red_task", timestamp=7)  # a caller's own stamp stays
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(app.amqp.queues["red_queue"], no_ack=True)
        stamps = [queue.get(timeout=1).properties.get("timestamp") for _ in range(2)]
    assert before <= stamps[0] <= time.time()
    assert stamps[1] == 7
    app.close()
    # As kombu's Redis transport stores a message, and as the age of the oldest reads it.
    assert sent_at('{"body": "", "properties": {"timestamp": 12}}') == 12.0
    assert sent_at('{"body": ""}') is None
    assert sent_at(b"not json") is None
    assert sent_at(None) is None
    assert age([None, 10.0, 4.0], now=14.0) == 10.0
    assert age([None], now=1.0) is None
