"""The delivery count of a poison message, and which groups' workers count."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from celery import Celery, Task, signals
from celery.utils.imports import symbol_by_name
from celery.worker.request import Request as CeleryRequest
from kombu import Exchange, Queue

from stack.container import deliveries as module
from stack.container.deliveries import Counting, deliveries
from stack.container.requests import install
from stack.settings.celeryconf import MAX_DELIVERIES, group_settings
from stack.settings.deadletter import DEAD_QUEUE, HEADER, ORIGIN_ROUTING_KEY
from stack.topology.model import WorkerGroup


def test_a_message_the_kit_never_redelivered_counts_one() -> None:
    assert deliveries(None) == 1
    assert deliveries({}) == 1
    assert deliveries({HEADER: 2}) == 2
    assert deliveries({HEADER: "3"}) == 3
    assert deliveries({HEADER: "x"}) == 1
    assert deliveries({HEADER: 0}) == 1


def test_only_groups_that_requeue_a_lost_task_count_deliveries() -> None:
    assert group_settings(WorkerGroup(queues=["q"]))[MAX_DELIVERIES] == 3
    assert group_settings(WorkerGroup(queues=["q"], max_deliveries=5))[MAX_DELIVERIES] == 5
    assert MAX_DELIVERIES not in group_settings(WorkerGroup(queues=["q"], acks_late=False))
    assert MAX_DELIVERIES not in group_settings(
        WorkerGroup(queues=["q"], reject_on_worker_lost=False)
    )


# A real Celery app on kombu's in-memory broker: a message is taken from a queue as a
# worker takes it, and its Request is told its worker process was lost.


class OwnRequest(CeleryRequest):  # type: ignore[misc]
    seen: ClassVar[list[str]] = []

    def on_failure(self, exc_info: Any, *args: Any, **kwargs: Any) -> Any:
        OwnRequest.seen.append(self.id)
        return super().on_failure(exc_info, *args, **kwargs)


class OwnBase(Task):  # type: ignore[misc]
    Request = OwnRequest


@pytest.fixture
def app() -> Iterator[Celery]:
    shared = Exchange("shared", type="direct")
    app = Celery("t", broker="memory://", backend="cache+memory://", set_as_current=False)
    app.conf.update(
        task_queues=[Queue("one", shared, "key"), Queue("two", shared, "key")],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        **{MAX_DELIVERIES: 3},
    )

    @app.task(name="plain")
    def plain() -> None: ...

    @app.task(name="own", base=OwnBase)
    def own() -> None: ...

    install(app)
    app.finalize()
    app.amqp.queues.select(["one"])  # this worker consumes one; two is another group's
    with app.connection_for_write() as conn:  # kombu's memory broker is one per process
        for queue in (*app.conf.task_queues, module.dead_queue()):
            queue(conn.default_channel).declare()
            queue(conn.default_channel).purge()
    yield app
    while _open:
        _open.pop().close()
    app.close()


def send(app: Celery, name: str, **options: Any) -> Any:
    """Sent to the exchange both queues are bound to with the same key: a copy in each."""
    return app.send_task(name, exchange="shared", routing_key="key", **options)


_open: list[Any] = []  # a taken message is acknowledged on its connection: kept open


def take(app: Celery, queue: str) -> Any:
    conn = app.connection_for_read()
    _open.append(conn)
    q = app.amqp.queues[queue] if queue in app.amqp.queues else module.dead_queue()
    return conn.SimpleQueue(q, no_ack=False).get(timeout=1)


def lose(app: Celery, name: str, message: Any) -> CeleryRequest:
    task = app.tasks[name]
    request = symbol_by_name(task.Request)(
        message, app=app, task=task,
        on_ack=message.ack_log_error, on_reject=message.reject_log_error,
    )  # fmt: skip
    try:
        raise WorkerLostError("Worker exited prematurely: exitcode 1.")
    except WorkerLostError:
        request.on_failure(ExceptionInfo())
    return request


def depth(app: Celery, queue: str) -> int:
    with app.connection_for_read() as conn:
        return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


def test_every_task_counts_over_its_own_request_class(app: Celery) -> None:
    plain, own = (symbol_by_name(app.tasks[n].Request) for n in ("plain", "own"))
    assert issubclass(plain, Counting)
    assert issubclass(plain, CeleryRequest)
    assert issubclass(own, Counting)
    assert issubclass(own, OwnRequest)
    send(app, "own")
    take(app, "two")  # the copy for the other queue bound with the same key
    request = lose(app, "own", take(app, "one"))
    assert request.id in OwnRequest.seen


def test_a_lost_task_goes_back_once_to_its_own_queue_counted(app: Celery) -> None:
    send(app, "plain")
    assert (depth(app, "one"), depth(app, "two")) == (1, 1)
    lose(app, "plain", take(app, "one"))
    assert (depth(app, "one"), depth(app, "two")) == (1, 1)  # no copy for two
    assert take(app, "one").headers[HEADER] == 2


def test_past_the_limit_a_dead_letter_and_a_failure_as_celery_records_it(app: Celery) -> None:
    failures: list[Any] = []

    def on_failure(sender: Any, task_id: str, exception: Exception, **_: Any) -> None:
        failures.append((task_id, exception))

    signals.task_failure.connect(on_failure, weak=False)
    try:
        result = send(app, "plain", headers={HEADER: 3})
        lose(app, "plain", take(app, "one"))
    finally:
        signals.task_failure.disconnect(on_failure)
    assert (depth(app, "one"), depth(app, "two")) == (0, 1)
    letter = take(app, DEAD_QUEUE)
    assert (letter.headers[HEADER], letter.headers[ORIGIN_ROUTING_KEY]) == (3, "one")
    assert [(i, type(e)) for i, e in failures] == [(result.id, WorkerLostError)]
    assert "max_deliveries" in str(result.result)


def test_a_broker_that_refuses_the_copy_gets_the_message_back_unchanged(
    app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_: Any, **__: Any) -> None:
        raise ConnectionError("broker away")

    monkeypatch.setattr(module, "republish", refused)
    send(app, "plain")
    lose(app, "plain", take(app, "one"))
    again = take(app, "one")
    assert again.headers.get(HEADER) is None  # requeued as Celery does, counted next time
