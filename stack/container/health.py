"""Health files written inside containers: cheap probes for Docker, compose and Kubernetes.

A probe that runs `celery inspect ping` costs a Python start and a broker round trip every
few seconds; instead the worker touches a file from its own event loop, so a stale file
means a stuck worker, and the probe is a shell `stat`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stack.container import paths

# The image sets STACK_STATE_DIR to paths.STATE_DIR; probes use that fixed path (rendered
# output must not depend on the environment that rendered it).
STATE_DIR = Path(os.environ.get("STACK_STATE_DIR", paths.STATE_DIR))
READY = "ready"
ALIVE = "alive"
ALIVE_EVERY = 5.0  # seconds between touches
ALIVE_STALE = 30  # seconds after which the probe fails

# Shell probes; they must stay in sync with the file names above.
READY_PROBE = f"test -f {paths.STATE_DIR}/{READY}"
ALIVE_PROBE = (
    f"test -f {paths.STATE_DIR}/{READY} && "
    f"test $(( $(date +%s) - $(stat -c %Y {paths.STATE_DIR}/{ALIVE}) )) -lt {ALIVE_STALE}"
)

# Beat rewrites beat.json (beatstate.py) on ticks at least REFRESH apart; it ticks at least
# every beat_max_loop_interval (Celery's default 300 s). Older than that: beat is stuck.
BEAT_STATE = "beat.json"
BEAT_STALE = 420
BEAT_ALIVE_PROBE = (
    f"test $(( $(date +%s) - $(stat -c %Y {paths.STATE_DIR}/{BEAT_STATE}) )) -lt {BEAT_STALE}"
)


def touch(name: str) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    (STATE_DIR / name).touch()


def forget_ready() -> None:
    """At a worker's or beat's start: the state dir can outlive the process (a pod's emptyDir
    after a crash), and a ready file left by the last run would pass the probes too early."""
    (STATE_DIR / READY).unlink(missing_ok=True)


def install(app: Any) -> None:
    """Hook the health files into a Celery app's worker and beat."""
    from celery import bootsteps, signals

    class AliveStep(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = ("celery.worker.components:Timer",)

        def start(self, worker: Any) -> None:
            touch(ALIVE)
            worker.timer.call_repeatedly(ALIVE_EVERY, touch, (ALIVE,), priority=10)

    app.steps["worker"].add(AliveStep)

    def _ready(**_: Any) -> None:
        touch(ALIVE)
        touch(READY)

    def _beat_ready(**_: Any) -> None:
        touch(READY)

    def _not_ready(**_: Any) -> None:
        (STATE_DIR / READY).unlink(missing_ok=True)

    signals.worker_ready.connect(_ready, weak=False)
    signals.beat_init.connect(_beat_ready, weak=False)
    signals.worker_shutting_down.connect(_not_ready, weak=False)
