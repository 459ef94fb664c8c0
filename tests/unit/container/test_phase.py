"""The phase file and the import watcher that tell the host what a start is doing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stack.container import health, phase


def test_enter_writes_one_line_with_the_phase_and_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "STATE_DIR", tmp_path / "state")
    phase.enter(phase.BROKER_PORT, "redis:6379")
    name, when, detail = (tmp_path / "state" / "phase").read_text().rstrip("\n").split("\t")
    assert (name, detail) == (phase.BROKER_PORT, "redis:6379")
    assert abs(int(when) - time.time()) <= 2


def blocked_at_import(seconds: float) -> None:
    time.sleep(seconds)  # where the watcher must see the main thread


def test_the_watch_writes_where_the_main_thread_is_until_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "STATE_DIR", tmp_path)
    watch = phase.Watch(every=0.05).start()
    try:
        blocked_at_import(0.4)
    finally:
        watch.stop()
    frames = (tmp_path / phase.STACK).read_text().splitlines()
    file, _, function = frames[-1].rsplit(":", 2)
    assert (Path(file).name, function) == ("test_phase.py", "blocked_at_import")
    assert frames[-2].endswith(":test_the_watch_writes_where_the_main_thread_is_until_stopped")
    written = (tmp_path / phase.STACK).stat().st_mtime_ns
    time.sleep(0.2)
    assert (tmp_path / phase.STACK).stat().st_mtime_ns == written  # stopped: no more writes


def test_a_fast_start_writes_no_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "STATE_DIR", tmp_path)
    phase.Watch(every=5).start().stop()
    assert not (tmp_path / phase.STACK).exists()


def test_an_unwritable_state_dir_is_no_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(health, "STATE_DIR", tmp_path / "file" / "state")
    phase.enter(phase.IMPORTING)  # the host then has only the logs to go by
