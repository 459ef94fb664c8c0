"""`stack celery ARGS...`: Celery's own command line, on the running topology, from the host.

The app is a plain Celery() with the topology's settings and the host's URLs of the
published broker and backend: no user code is imported (a host may not have the app's
dependencies), so commands that name tasks (`call`, `result`) send or read by name, as a
producer does. Celery's click group receives the app through its `app` parameter, which
takes a Celery object as well as a module path (celery/bin/celery.py: type UNPROCESSED).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stack.topology.load import load

PROG = "stack celery"


def app_for(path: str | Path | None) -> Any:
    """The topology's own app (stack.producer.topology_app), on the running stack's URLs."""
    from stack.producer import topology_app

    return topology_app(load(path, False))


def run(app: Any, args: Sequence[str]) -> int:
    """Celery's CLI with `app`; its exit code. Click's usage errors are printed by Click
    (Celery's own message) and come back as their exit code, never as a traceback."""
    import click
    from celery.bin.celery import celery

    try:
        code = celery.main(
            args=list(args), prog_name=PROG, standalone_mode=False, default_map={"app": app}
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        return 1
    finally:
        app.close()
    return code if isinstance(code, int) else 0
