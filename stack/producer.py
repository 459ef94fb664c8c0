"""Applying a topology to the user's Celery app in its producers: `stack.connect()`.

Containers apply it from the image's settings snapshot instead (container/boot.py).
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

from stack.container.userapp import load_app
from stack.settings import guards
from stack.settings.celeryconf import ignored_queues, settings
from stack.topology.load import Loaded, load
from stack.topology.model import Topology


def configure(
    app: Any,
    topology: Topology,
    broker_url: str | None,
    backend_url: str | None,
    *,
    group: str | None = None,
) -> Any:
    """Apply the topology's settings to app (queues, routes, beat, URLs, group defaults)."""
    app.conf.update(settings(topology, broker_url, backend_url, group))
    guards.install(
        app, topology.broker.type, topology.broker.visibility_timeout, ignored_queues(topology)
    )
    return app


def connect(
    path: str | Path | None = None,
    broker_url: str | None = None,
    backend_url: str | None = None,
) -> Any:
    """The user's app, configured from the topology, ready to send tasks to the running stack.

    URLs: the arguments, else $STACK_BROKER_URL / $STACK_RESULT_BACKEND, else the stack that
    `stack up` runs for this topology (its published ports and its secrets file).
    """
    return connect_loaded(load(path), broker_url, backend_url)


def connect_loaded(
    loaded: Loaded, broker_url: str | None = None, backend_url: str | None = None
) -> Any:
    """`connect` for a topology already loaded (no second read of the file)."""
    topology = loaded.topology
    broker_url, backend_url = urls(loaded, broker_url, backend_url)
    app = load_app(topology.app, (loaded.base_dir / topology.image.context).resolve())
    atexit.register(release_results, app)
    return configure(app, topology, broker_url, backend_url)


def topology_app(
    loaded: Loaded, broker_url: str | None = None, backend_url: str | None = None
) -> Any:
    """A Celery app of the topology alone, none of the user's code: it sends tasks by name
    (`stack send`), so the host needs neither the app nor its dependencies. Settings the
    user's code sets itself (a serializer, say) are not known here: the topology's
    `celery:` mapping is."""
    from celery import Celery

    broker_url, backend_url = urls(loaded, broker_url, backend_url)
    app = Celery(loaded.topology.name, set_as_current=False)
    return configure(app, loaded.topology, broker_url, backend_url)


def urls(
    loaded: Loaded, broker_url: str | None = None, backend_url: str | None = None
) -> tuple[str, str | None]:
    """The arguments, else $STACK_BROKER_URL / $STACK_RESULT_BACKEND, else the running
    stack's published ports and secrets."""
    broker_url = broker_url or os.environ.get("STACK_BROKER_URL")
    backend_url = backend_url or os.environ.get("STACK_RESULT_BACKEND")
    if broker_url is None:
        from stack.deploy.ops.endpoints import host_urls  # lazy: needs the Docker SDK

        broker_url, found_backend = host_urls(loaded)
        backend_url = backend_url or found_backend
    return broker_url, backend_url


def release_results(app: Any) -> None:
    """Drop the app's result subscriptions at exit, while Python can still reach Redis.

    Celery's Redis backend subscribes to the result of each task sent and unsubscribes when
    its AsyncResult is collected. A canvas leaves results alive (parents, a group's members,
    ones Celery still tracks): collected in the interpreter's teardown, each unsubscribe
    failed with a traceback ("sys.meta_path is None"). The subscriptions end with the
    connection, which stop() closes.
    """
    backend = getattr(app._local, "backend", None)  # app.backend would make one
    consumer = getattr(backend, "result_consumer", None)
    subscribed = getattr(consumer, "subscribed_to", None)
    if consumer is None or not isinstance(subscribed, set):
        return  # another backend: nothing subscribed
    subscribed.clear()  # later unsubscribes find nothing to send
    consumer.stop()
