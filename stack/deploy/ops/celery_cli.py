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

from stack.settings.celeryconf import settings
from stack.topology.load import Loaded, load

PROG = "stack celery"


def topology_app(loaded: Loaded, broker_url: str, backend_url: str | None) -> Any:
    """A Celery app carrying every setting the topology gives its processes."""
    from celery import Celery

    app = Celery(loaded.topology.name, set_as_current=False)
    app.conf.update(settings(loaded.topology, broker_url, backend_url))
    return app


def app_for(path: str | Path | None) -> Any:
    from stack.deploy.ops.endpoints import host_urls

    loaded = load(path, False)
    broker, backend = host_urls(loaded)
    return topology_app(loaded, broker, backend)


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
