"""What an app process is doing while it starts, written where the host can read it.

A worker that never answers a ping looks the same from outside whether it is still
importing its app, waiting for its broker or blocked on a database. Each step of a start
writes its name into the state dir (STATE_DIR/phase); while the process imports (the app,
then the task modules a worker imports before it starts: Django's setup, autodiscovery), a
thread writes where the main thread is (STATE_DIR/stack) every WATCH_EVERY seconds. The
host reads both with one `docker exec` when a replica is late (deploy/ops/diagnose.py).

Standard library only: this runs before Celery and the user's code are imported.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import FrameType
from typing import Any

from stack.container import health

PHASE = "phase"
STACK = "stack"
WATCH_EVERY = 2.0  # seconds; a start that imports faster never writes a stack
STACK_FRAMES = 40  # innermost frames kept

# The phases, in the order a worker goes through them; the texts are what the host shows.
IMPORTING = "importing the app"
TASK_MODULES = "importing the task modules (Django setup, autodiscovery, include)"
BROKER_PORT = "waiting for the broker's port"
STARTING = "starting the pool and connecting to the broker"
CONNECTED = "connected to the broker, starting to consume"
READY = "ready"
# While in these, the main thread's stack says more than the phase.
IMPORT_PHASES = (IMPORTING, TASK_MODULES)


def _write(name: str, text: str) -> bool:
    """Replace STATE_DIR/name with text; False where the state dir is not writable."""
    try:
        state_dir = health.STATE_DIR
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / f".{name}.{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, state_dir / name)
    except OSError:  # a read-only or missing state dir: the host then reads the logs only
        return False
    return True


def enter(phase: str, detail: str = "") -> None:
    """Record that the process is now in phase (one line: phase, epoch seconds, detail)."""
    _write(PHASE, f"{phase}\t{time.time():.0f}\t{detail}\n")


def frames(frame: FrameType | None) -> list[str]:
    """ "file:line:function" of each frame, outermost first, the innermost STACK_FRAMES."""
    found: list[str] = []
    while frame is not None and len(found) < STACK_FRAMES:
        found.append(f"{frame.f_code.co_filename}:{frame.f_lineno}:{frame.f_code.co_name}")
        frame = frame.f_back
    return found[::-1]


class Watch:
    """A daemon thread writing the main thread's stack while the process imports."""

    def __init__(self, every: float = WATCH_EVERY) -> None:
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Watch:
        target = threading.main_thread().ident
        self._thread = threading.Thread(
            target=self._run, args=(target,), name="stack-phase-watch", daemon=True
        )
        self._thread.start()
        return self

    def _run(self, target: int | None) -> None:
        while not self._stop.wait(self.every):
            # sys._current_frames is the documented way to see another thread's stack.
            frame = sys._current_frames().get(target) if target is not None else None
            if frame is None:
                return
            _write(STACK, "".join(f"{line}\n" for line in frames(frame)))

    def stop(self) -> None:
        """Stop before the pool forks: a child must not inherit a thread in mid-write."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        self._thread = None


def install(app: Any, watch: Watch, command: str) -> None:
    """Record the phases of a worker's (or beat's) start, once the app is imported."""
    from celery import bootsteps, signals

    # Both import the task modules first (Celery's loader.init_worker: Django's setup,
    # autodiscovery, `include` and `imports`), before worker_init or beat_init.
    enter(TASK_MODULES)

    def _started(**_: Any) -> None:
        watch.stop()
        enter(STARTING)

    def _ready(**_: Any) -> None:
        watch.stop()
        enter(READY)

    if command != "worker":
        signals.beat_init.connect(_ready, weak=False)
        return

    class Connected(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = ("celery.worker.consumer.connection:Connection",)

        def start(self, consumer: Any) -> None:
            enter(CONNECTED)

    app.steps["consumer"].add(Connected)
    signals.worker_init.connect(_started, weak=False)
    signals.worker_ready.connect(_ready, weak=False)
