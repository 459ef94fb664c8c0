"""`python -m stack.container.registered`: the app's registered task names, as JSON on stdout.

`stack routes --app` runs this in the built app image (`docker run --network none`), so the
host needs neither the user's code nor its dependencies. It imports the app as a worker
does (boot.py: the topology applied), then what a worker imports before it starts
(Celery's loader.import_default_modules: Django's setup and autodiscovered tasks,
`include` and `imports`): the list is the workers' own.

Output: one line `{"tasks": [...]}` on stdout; what the user's code prints goes to stderr.
A failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
import os
import sys

from stack.container import phase
from stack.container.userapp import where

FAILED = 1


def _registered() -> list[str]:
    from stack.container.boot import APP_DIR, app

    phase.enter(phase.TASK_MODULES)
    try:
        app.loader.import_default_modules()
        app.finalize(auto=True)
    except Exception as exc:  # the user's task modules, Django's setup: reported, one line
        from stack.errors import StackError

        text = " ".join(str(exc).split())
        raise StackError(
            f"importing the app's task modules (as a worker does before it starts) failed: "
            f"{type(exc).__name__}: {text}{where(exc, APP_DIR)}"
        ) from None
    return sorted(str(name) for name in app.tasks)


def main() -> int:
    # The real stdout carries the answer alone: anything the app prints, from Python or C,
    # goes to stderr.
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    phase.enter(phase.IMPORTING)
    watch = phase.Watch().start()
    from stack.errors import StackError

    try:
        names = _registered()
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return FAILED
    finally:
        watch.stop()
    answer.write(json.dumps({"tasks": names}) + "\n")
    answer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
