"""How containers start: Celery's commands via stack.container.launch, the broker wait, the heap."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from stack.container.startup import freeze_heap, wait_for_broker
from stack.deploy import services as plan
from stack.topology.load import load, load_string
from tests.helpers import COLORS, ROOT


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


def launch(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "stack.container.launch", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("args", [(), ("flower",), ("--help",)])
def test_launch_refuses_anything_but_worker_and_beat(args: tuple[str, ...]) -> None:
    done = launch(*args)
    assert done.returncode != 0
    assert "usage: python -m stack.container.launch {worker|beat}" in done.stderr
    assert "Traceback" not in done.stderr


MORE = """\
name: shop
app: tasks:app
queues: [a, b, c]
workers:
  long: {queues: [a], time_limit: 30, concurrency: 4}
  short: {queues: [b], workload: short, log_level: WARNING}
  io: {queues: [c], workload: io, embed_beat: true}
beat:
  tick: {task: tasks.tick, every: 5}
monitor: {flower: false}
"""


@pytest.mark.parametrize("source", ["colors", "more"])
def test_every_rendered_option_is_one_celery_accepts(source: str) -> None:
    """Celery's own click commands parse what the kit renders for workers and beat."""
    from celery import Celery
    from celery.bin.base import CLIContext
    from celery.bin.beat import beat
    from celery.bin.worker import worker

    if source == "colors":
        topology = load(COLORS / "topology.yaml").topology
    else:
        topology = load_string(MORE, "more.yaml").topology
    services = plan.services(topology, plan.images(topology))
    commands = {"worker": worker, "beat": beat}
    checked = 0
    for service in services:
        if service.command[: len(plan.LAUNCH)] != plan.LAUNCH:
            continue
        name, *options = service.command[len(plan.LAUNCH) :]
        obj = CLIContext(app=Celery(set_as_current=False), no_color=True, workdir=None)
        ctx = commands[name].make_context(f"celery {name}", list(options), obj=obj)
        assert ctx.params  # parsed: an unknown option or a bad value raises instead
        checked += 1
    assert checked == len(topology.workers) + 1  # every group, and beat


def test_ping_window_starts_short_and_widens_while_nobody_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reply that comes after its ping's window is lost: a window that never grew would
    wait forever on a loaded host or a distant broker."""
    from types import SimpleNamespace

    from stack.deploy.ops import ready

    clock = [100.0]
    monkeypatch.setattr(ready.time, "monotonic", lambda: clock[0])
    project = SimpleNamespace(topology=load(COLORS / "topology.yaml").topology)
    readiness = ready.Readiness(docker=None, project=project, console=None)  # type: ignore[arg-type]
    assert readiness._ping_window() == pytest.approx(ready.PING_TIMEOUT)
    clock[0] += 4.0  # seconds of booting workers: still snappy
    assert readiness._ping_window() == pytest.approx(ready.PING_TIMEOUT)
    clock[0] += 10.0
    assert 0.3 < readiness._ping_window() < ready.PING_WINDOW_MAX
    clock[0] += 600.0
    assert readiness._ping_window() == ready.PING_WINDOW_MAX
