"""The worker's consumer, alive while it waits for its broker.

The alive file (health.py) is touched from the worker's event loop, which stops while the
consumer reconnects after a broker outage: the liveness probe then restarted every worker
some 30 s into any outage, and a restart loop slowed recovery when the broker came back.
While kombu retries the connection it calls a callback every second; touching the file
there says what is true: the worker is not stuck, it waits for the broker.
"""

from __future__ import annotations

from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

from stack.container import health

DEFAULT = "celery.worker.consumer:Consumer"


class Consumer(CeleryConsumer):  # type: ignore[misc]
    def ensure_connected(self, conn: Any) -> Any:
        ensure = conn.ensure_connection

        def ensure_alive(*args: Any, callback: Any = None, **kwargs: Any) -> Any:
            def waiting() -> None:
                health.touch(health.ALIVE)
                if callback is not None:
                    callback()

            return ensure(*args, callback=waiting, **kwargs)

        conn.ensure_connection = ensure_alive
        try:
            return super().ensure_connected(conn)
        finally:
            del conn.ensure_connection  # the instance attribute: the method shows again


def install(app: Any) -> None:
    """Use this consumer unless the app names its own."""
    if app.conf.worker_consumer == DEFAULT:
        app.conf.worker_consumer = f"{__name__}:Consumer"
