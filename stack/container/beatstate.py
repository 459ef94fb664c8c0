"""Beat's last and next run of each entry, for `stack top` and the metrics exporter.

The kit's beat runs its schedule with the topology's scheduler class (Celery's
PersistentScheduler unless the app names another) with this mixed in. After a tick that
ran an entry, and every REFRESH seconds, it writes the state to STATE_DIR/beat.json (the
host reads it from the container) and sends it as a `stack-beat` event (the exporter
listens). The event reaches whoever listens on Celery's event exchange at that moment.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from celery.utils.imports import load_extension_class_names, symbol_by_name

from stack.container import health, paths

STATE_FILE = health.BEAT_STATE
EVENT = "stack-beat"
REFRESH = 15.0  # seconds between writes when nothing ran
log = logging.getLogger(__name__)


def entry_state(entry: Any, now: datetime) -> dict[str, float | None]:
    """An entry's last run (None before its first) and next run, as Unix times (None where
    its schedule cannot tell: Celery's own base schedule leaves remaining_estimate out)."""
    last = entry.last_run_at.timestamp() if entry.total_run_count and entry.last_run_at else None
    try:
        remaining = entry.schedule.remaining_estimate(entry.last_run_at).total_seconds()
    except (NotImplementedError, AttributeError, TypeError, ValueError):
        return {"last_run": last, "next_run": None}
    return {"last_run": last, "next_run": now.timestamp() + max(0.0, remaining)}


class Reporting:
    """Mixed in before the scheduler class."""

    app: Any
    schedule: dict[str, Any]
    _stack_runs: tuple[int, ...] = ()
    _stack_written = 0.0
    _stack_failed = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval: float = super().tick(*args, **kwargs)  # type: ignore[misc]
        runs = tuple(e.total_run_count for e in self.schedule.values())
        if runs != self._stack_runs or time.monotonic() - self._stack_written >= REFRESH:
            self._stack_runs, self._stack_written = runs, time.monotonic()
            self._stack_report()
        return interval

    def _stack_report(self) -> None:
        directory = Path(os.environ.get("STACK_STATE_DIR", paths.STATE_DIR))
        try:
            now = self.app.now()
            entries = {name: entry_state(e, now) for name, e in sorted(self.schedule.items())}
            state = {"entries": entries, "written": time.time()}
            directory.mkdir(parents=True, exist_ok=True)
            partial = directory / f"{STATE_FILE}.tmp"
            partial.write_text(json.dumps(state), encoding="utf-8")
            partial.replace(directory / STATE_FILE)
            with self.app.events.default_dispatcher(hostname="beat") as dispatcher:
                dispatcher.send(EVENT, entries=state["entries"])
            self._stack_failed = False
        except Exception as exc:  # beat's schedule matters more than its report
            if not self._stack_failed:
                log.warning("stack: could not report beat's state: %r", exc)
            self._stack_failed = True


class Reporter:
    """The scheduler beat makes, with Reporting mixed in: Celery calls beat_scheduler with
    the scheduler's arguments. The class is looked up then, once the app is set up (a
    Django app's database scheduler imports its models)."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The aliases Celery's beat resolves a scheduler name with ("django": the
        # django-celery-beat scheduler's entry point).
        aliases = dict(load_extension_class_names("celery.beat_schedulers"))
        base = symbol_by_name(self.base, aliases=aliases)
        if not issubclass(base, Reporting):
            base = type(f"Stack{base.__name__}", (Reporting, base), {})
        return base(*args, **kwargs)


def install(app: Any) -> None:
    """Make the app's beat scheduler report (beat, and a worker's embedded beat)."""
    if not isinstance(app.conf.beat_scheduler, Reporter):
        app.conf.beat_scheduler = Reporter(app.conf.beat_scheduler)
