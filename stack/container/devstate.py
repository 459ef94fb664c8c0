"""Under `stack dev`: each worker and beat records which of the app's files it imported.

The host reads these records to restart only the processes an edited file concerns (a
module that only the red group imports restarts red alone). A record is written when the
process is ready and again after a task that imported more of the app (an import inside a
task's body); each start writes a new boot id, which tells the host the reload is done.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ENV_STATE = "STACK_DEV_STATE"  # the state directory, mounted read-write from the host
ENV_ID = "STACK_DEV_ID"  # this container's name: the record's file name
# When the supervisor started this worker (container/devreload.py): an old worker still
# finishing its tasks must not overwrite the record of the one that replaced it.
ENV_GENERATION = "STACK_DEV_GENERATION"


def imported(app_dir: Path) -> list[str]:
    """The files under app_dir that this process imported, relative to it, sorted."""
    root = str(app_dir) + "/"
    found = set()
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str) and name.startswith(root):
            found.add(name[len(root) :])
    return sorted(found)


class Recorder:
    def __init__(self, state_dir: Path, name: str, app_dir: Path) -> None:
        self.path = state_dir / f"{name}.json"
        self.app_dir = app_dir
        self.boot = f"{os.getpid()}-{time.time_ns()}"
        self.generation = int(os.environ.get(ENV_GENERATION) or 0)
        self.seen = -1  # len(sys.modules) at the last record

    def record(self, **_: Any) -> None:
        if len(sys.modules) == self.seen:
            return
        self.seen = len(sys.modules)
        files = set(imported(self.app_dir))
        # The pool's children and a draining old worker share the record: one at a time
        # (flock on a sidecar), keeping what another child of this boot recorded.
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                earlier = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                earlier = {}
            if int(earlier.get("generation") or 0) > self.generation:
                return
            if earlier.get("boot") == self.boot:
                files.update(earlier.get("files", ()))
            data = {"boot": self.boot, "generation": self.generation, "files": sorted(files)}
            partial = self.path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(data), encoding="utf-8")
            partial.replace(self.path)  # the host never reads half a record


def install(app_dir: Path) -> Recorder | None:
    """Record on worker_ready, beat_init and after each task; None outside `stack dev`."""
    state, name = os.environ.get(ENV_STATE), os.environ.get(ENV_ID)
    if not state or not name:
        return None
    from celery import signals

    recorder = Recorder(Path(state), name, app_dir)
    signals.worker_ready.connect(recorder.record, weak=False)
    signals.beat_init.connect(recorder.record, weak=False)
    # In the pool's child processes too: sys.modules there is the child's own, and a
    # forked child's record only adds to its parent's imports.
    signals.task_postrun.connect(recorder.record, weak=False)
    return recorder
