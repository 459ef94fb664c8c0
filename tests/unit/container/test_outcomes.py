"""What a worker counts of its tasks' outcomes, and beat's report of its runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.beat import PersistentScheduler
from celery.schedules import BaseSchedule
from celery.utils.imports import symbol_by_name

from stack.container import beatstate, outcomes
from stack.container.observed import quantile
from stack.container.outcomes import WINDOW, Outcomes, stack_outcomes
from stack.container.requests import install


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_last_minute_forgets_older_outcomes_and_totals_keep_them() -> None:
    clock = Clock()
    seen = Outcomes(clock)
    seen.note("succeeded", 0.5)
    seen.note("failed")
    clock.now += 30
    assert seen.report()["window"] == 30  # younger than a minute: its own age
    seen.note("succeeded", 0.25)
    clock.now += WINDOW - 10  # the first two are now 80 s old
    report = seen.report()
    assert report["totals"] == {"succeeded": 2, "failed": 1, "retried": 0, "lost": 0}
    assert report["last_minute"] == {"succeeded": 1}
    assert report["runtimes"] == [0.25]
    assert report["window"] == WINDOW


def test_counts_hold_when_a_threads_pool_reports_from_many_threads() -> None:
    import threading

    seen = Outcomes()
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(2000):
            seen.note("succeeded", 0.001)

    def read() -> None:
        try:
            for _ in range(300):
                seen.report()
        except BaseException as exc:  # the test reports whatever it was
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert seen.report()["totals"]["succeeded"] == 16000
    assert seen.report()["last_minute"]["succeeded"] == 16000


def test_a_worker_without_an_event_dispatcher_says_it_counts_nothing() -> None:
    off = type("Dispatcher", (), {"enabled": False})()
    state = type("State", (), {"consumer": type("Consumer", (), {"event_dispatcher": off})()})()
    assert "unavailable" in stack_outcomes(state)
    off.enabled = True  # type: ignore[attr-defined]
    assert "totals" in stack_outcomes(state)


def test_quantiles_are_nearest_rank() -> None:
    assert quantile([], 0.5) is None
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile([float(i) for i in range(1, 101)], 0.95) == 95.0
    assert quantile([7.0], 0.95) == 7.0


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("t", broker="memory://", set_as_current=False)

    @app.task(name="work")
    def work() -> None: ...

    install(app)
    app.finalize()
    yield app
    app.close()


def test_a_request_counts_what_celery_reports_with_task_events_off(
    app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = Outcomes()
    monkeypatch.setattr(outcomes, "OUTCOMES", seen)
    app.send_task("work", queue="celery")
    with app.connection_for_read() as conn:
        message = conn.SimpleQueue("celery", no_ack=True).get(timeout=1)
        task = app.tasks["work"]
        # Celery's worker builds the request class this way (worker/strategy.py).
        from celery.worker.request import create_request_cls

        events = type("Eventer", (), {"enabled": True, "groups": ["worker"]})()
        pool = type("Pool", (), {"apply_async": None})()  # not run: on_success is called
        cls = create_request_cls(symbol_by_name(task.Request), task, pool, "w@h", events)
        request = cls(message, app=app, task=task, eventer=events)
        sent: list[str] = []
        events.send = lambda kind, **_: sent.append(kind)  # type: ignore[attr-defined]
        request.on_success((False, None, 0.125))
    assert seen.report()["totals"]["succeeded"] == 1
    assert seen.report()["runtimes"] == [0.125]
    assert sent == ["task-succeeded"]  # Celery's own event still goes to the dispatcher


def test_beat_reports_each_entrys_last_and_next_run(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("STACK_STATE_DIR", str(tmp_path))
    app = Celery("t", broker="memory://", set_as_current=False)
    app.conf.beat_schedule = {
        "often": {"task": "work", "schedule": timedelta(seconds=0.2)},
        "rarely": {"task": "work", "schedule": timedelta(days=1)},
    }
    beatstate.install(app)
    beatstate.install(app)  # once is enough: not wrapped twice
    assert isinstance(app.conf.beat_scheduler, beatstate.Reporter)
    scheduler = app.conf.beat_scheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    assert isinstance(scheduler, PersistentScheduler)
    try:
        scheduler.tick()  # the first tick of a new entry: not due yet
        import time

        time.sleep(0.3)
        scheduler.tick()
        state = json.loads((tmp_path / beatstate.STATE_FILE).read_text())
    finally:
        scheduler.close()
        app.close()
    often, rarely = state["entries"]["often"], state["entries"]["rarely"]
    assert often["last_run"] is not None
    assert often["next_run"] >= often["last_run"]
    assert rarely["last_run"] is None  # never ran: no last run, though Celery sets a start
    assert rarely["next_run"] > state["written"] + 86000


class Only(BaseSchedule):  # type: ignore[misc]  # defines is_due alone, as Celery allows
    def is_due(self, last_run_at: Any) -> Any:
        return (False, 60.0)


def test_a_schedule_that_cannot_estimate_leaves_next_run_unknown_and_beat_running(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("STACK_STATE_DIR", str(tmp_path))
    app = Celery("t", broker="memory://", set_as_current=False)
    app.conf.beat_schedule = {"odd": {"task": "work", "schedule": Only()}}
    beatstate.install(app)
    scheduler = app.conf.beat_scheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    try:
        scheduler.tick()
    finally:
        scheduler.close()
        app.close()
    state = json.loads((tmp_path / beatstate.STATE_FILE).read_text())
    assert state["entries"]["odd"] == {"last_run": None, "next_run": None}
