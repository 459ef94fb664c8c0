"""What a container does around Celery's own start (stack.container.startup): the broker
wait, the heap frozen once."""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from stack.container.startup import freeze_heap, wait_for_broker


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield int(server.getsockname()[1])
    server.close()


def test_broker_already_listening_is_no_wait(listener: int) -> None:
    started = time.monotonic()
    assert wait_for_broker(f"redis://:pw@127.0.0.1:{listener}/0", limit=5)
    assert time.monotonic() - started < 0.5


def test_waits_until_the_broker_listens_saying_so_once_without_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    server = socket.socket()
    timer = threading.Timer(0.4, lambda: (server.bind(("127.0.0.1", port)), server.listen()))
    timer.start()
    try:
        started = time.monotonic()
        assert wait_for_broker(f"amqp://u:p@127.0.0.1:{port}//", limit=10, poll=0.05)
        waited = time.monotonic() - started
    finally:
        timer.join()
        server.close()
    assert 0.3 < waited < 2.0  # connected soon after the port opened, not at a 2 s retry
    err = capsys.readouterr().err
    assert err.count("waiting for the broker") == 1  # said once, not at every poll
    assert "u:p" not in err  # host and port only, never credentials


def test_gives_up_after_the_limit_and_lets_celery_report() -> None:
    started = time.monotonic()
    assert not wait_for_broker(f"redis://127.0.0.1:{free_port()}/0", limit=0.3, poll=0.05)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    "url",
    [
        None, "", "memory://", "sqs://key:secret@", "filesystem://",
        "amqp://u:p@127.0.0.1:1;amqp://u:p@127.0.0.1:2//",  # failover: Celery moves on itself
        "redis://127.0.0.1:notaport/0",  # only Celery can say what is wrong with it
    ],
)  # fmt: skip
def test_no_wait_for_brokers_without_a_tcp_port(url: str | None) -> None:
    assert wait_for_broker(url, limit=0.1)


def test_heap_is_frozen_once() -> None:
    assert gc.get_freeze_count() == 0
    try:
        freeze_heap()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        fresh = [[n] for n in range(100)]  # made after the freeze: tracked, not frozen
        freeze_heap()  # a second signal (worker_ready after the pool forked) changes nothing
        assert gc.get_freeze_count() == frozen
        assert all(gc.is_tracked(item) for item in fresh)
    finally:
        gc.unfreeze()
