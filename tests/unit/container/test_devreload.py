"""The `stack dev` worker supervisor, on real processes: SIGHUP starts the new worker while
the old one stops; stop signals reach every worker; the container's status is the newest's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A stand-in worker: logs its start and the signal that stops it, then takes `drain`
# seconds to stop, as a warm shutdown with a task running does.
WORKER = """
import json, os, signal, sys, time
log, drain, code = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
def note(event):
    with open(log, "a") as out:
        out.write(json.dumps([event, os.getpid(), time.monotonic()]) + "\\n")
def stop(signum, _):
    note(signal.Signals(signum).name)
    time.sleep(drain)
    note("exit")
    sys.exit(code)
for s in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
    signal.signal(s, stop)
note("start")
while True:
    time.sleep(0.05)
"""

SUPERVISE = """
import signal, sys
from stack.container.devreload import Supervisor
stop = signal.Signals[sys.argv[1]]
sys.exit(Supervisor(sys.argv[2:], stop).run())
"""


def events(log: Path) -> list[list[object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def wait_until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def supervise(tmp_path: Path, stop: str, drain: float, code: int = 0) -> subprocess.Popen[bytes]:
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER, encoding="utf-8")
    log = tmp_path / "log"
    command = [sys.executable, str(worker), str(log), str(drain), str(code)]
    root = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "PYTHONPATH": root}
    process = subprocess.Popen([sys.executable, "-c", SUPERVISE, stop, *command], env=env)
    wait_until(lambda: [e[0] for e in events(log)] == ["start"])
    return process


@pytest.mark.parametrize(("mode", "stop"), [("warm", "SIGTERM"), ("terminate", "SIGQUIT")])
def test_sighup_starts_the_new_worker_while_the_old_one_stops(
    tmp_path: Path, mode: str, stop: str
) -> None:
    from stack.container.devreload import STOP_SIGNALS

    assert STOP_SIGNALS[mode].name == stop
    process = supervise(tmp_path, stop, drain=1.0)
    log = tmp_path / "log"
    try:
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: len([e for e in events(log) if e[0] == "exit"]) == 1)
        seen = events(log)
        old, new = (e[1] for e in seen if e[0] == "start")
        assert [e[0] for e in seen if e[1] == old] == ["start", stop, "exit"]
        started = next(e[2] for e in seen if e[0] == "start" and e[1] == new)
        exited = next(e[2] for e in seen if e[0] == "exit")
        assert isinstance(started, float)
        assert isinstance(exited, float)
        assert started < exited, "the new worker started before the old one finished"
        assert process.poll() is None, "the container goes on with the new worker"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_sigterm_reaches_every_worker_and_the_exit_is_the_newest_workers(
    tmp_path: Path,
) -> None:
    process = supervise(tmp_path, "SIGTERM", drain=1.5, code=3)
    log = tmp_path / "log"
    process.send_signal(signal.SIGHUP)
    wait_until(lambda: [e[0] for e in events(log)].count("start") == 2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 3
    seen = events(log)
    assert [e[0] for e in seen].count("exit") == 2, "both workers stopped"
    assert all(
        any(e[0] == "SIGTERM" and e[1] == pid for e in seen)
        for pid in {e[1] for e in seen if e[0] == "start"}
    )


def test_a_worker_that_exits_by_itself_ends_the_container_with_its_status(
    tmp_path: Path,
) -> None:
    from stack.container.devreload import exit_status

    process = supervise(tmp_path, "SIGTERM", drain=0.0)
    (pid,) = (e[1] for e in events(tmp_path / "log") if e[0] == "start")
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    assert process.wait(timeout=10) == 128 + signal.SIGKILL
    assert exit_status(256 * 2) == 2


def test_an_old_worker_does_not_overwrite_the_record_of_its_replacement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stack.container import devstate

    monkeypatch.setenv(devstate.ENV_GENERATION, "100")
    old = devstate.Recorder(tmp_path, "c", tmp_path / "app")
    monkeypatch.setenv(devstate.ENV_GENERATION, "200")
    new = devstate.Recorder(tmp_path, "c", tmp_path / "app")
    new.record()
    old.record()  # a task the old worker finished after the reload
    record = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert (record["boot"], record["generation"]) == (new.boot, 200)
    monkeypatch.setenv(devstate.ENV_GENERATION, "300")
    newer = devstate.Recorder(tmp_path, "c", tmp_path / "app")
    newer.record()
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["boot"] == newer.boot


def running(script: Path) -> list[int]:
    """The processes whose command line runs script."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # not a process, or it just ended
            continue
        if str(script).encode() in argv:
            found.append(int(entry.name))
    return found


def test_reloads_and_a_stop_in_a_burst_leave_no_worker_behind(tmp_path: Path) -> None:
    process = supervise(tmp_path, "SIGTERM", drain=0.3)
    for _ in range(5):  # faster than a worker starts: each reload meets a spawn under way
        process.send_signal(signal.SIGHUP)
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    # The newest worker's status: 0, or SIGTERM's if it came before its handlers were set.
    assert process.wait(timeout=20) in (0, 128 + signal.SIGTERM)
    assert running(tmp_path / "worker.py") == []
    assert [e[0] for e in events(tmp_path / "log")].count("start") >= 1
