"""Celery remote control from the host: ping nodes, read what they consume.

Every call opens a FRESH broker connection polling every 50 ms: a reused Redis connection
can answer up to ~1 s late (kombu polls replies in 1 s steps).
"""

from __future__ import annotations

from typing import Any

from stack.settings.celeryconf import control_settings
from stack.topology.model import Topology

POLLING_INTERVAL = 0.05


class Control:
    """A bare Celery app with the topology's settings; no user code imported."""

    def __init__(self, topology: Topology, broker_url: str) -> None:
        from celery import Celery

        self.app = Celery(f"{topology.name}-control", set_as_current=False)
        self.app.conf.update(control_settings(topology, broker_url))
        options = dict(self.app.conf.broker_transport_options or {})
        options["polling_interval"] = POLLING_INTERVAL
        # Fail a ping at once rather than retry: the readiness loop pings again anyway, and
        # a silent broker must not hold it past its deadline.
        options.update(max_retries=0, socket_timeout=2, socket_connect_timeout=2)
        self.app.conf.broker_transport_options = options
        self.app.conf.broker_connection_retry_on_startup = False
        self.app.conf.broker_connection_timeout = 2.0
        # Import the transport (redis-py or py-amqp) and the pidbox now, without connecting:
        # ~0.2 s that readiness spends in a background thread while the engine starts
        # containers, not after, on the way to the first ping.
        with self.app.connection_for_write() as conn:
            conn.transport  # noqa: B018
        self.app.control.mailbox  # noqa: B018

    def close(self) -> None:
        """Close the app's broker and result connections (they would leak sockets)."""
        self.app.close()

    def __enter__(self) -> Control:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def ping(self, nodes: set[str], timeout: float = 0.5) -> set[str]:
        """The nodes among `nodes` that answered; none if the broker is unreachable."""
        if not nodes:
            return set()
        try:
            with self.app.connection_for_write() as conn:
                replies = self.app.control.ping(
                    destination=sorted(nodes), timeout=timeout, limit=len(nodes),
                    connection=conn,
                )  # fmt: skip
        except Exception:  # a broker not up yet, a connection reset: nobody answered
            return set()
        return {name for reply in replies or [] for name in reply} & nodes

    def active_queues(
        self, timeout: float = 1.0, nodes: set[str] | None = None
    ) -> dict[str, list[str]]:
        """queue name -> nodes consuming it, from every worker that answers in time.

        With `nodes`, only those are asked, and the answer comes as soon as all of them
        have replied rather than after the whole timeout.
        """
        if nodes is not None and not nodes:
            return {}
        options: dict[str, Any] = {}
        if nodes:
            options = {"destination": sorted(nodes), "limit": len(nodes)}
        with self.app.connection_for_write() as conn:
            inspect = self.app.control.inspect(timeout=timeout, connection=conn, **options)
            replies: dict[str, Any] = inspect.active_queues() or {}
        consumers: dict[str, list[str]] = {}
        for node, queues in sorted(replies.items()):
            for queue in queues or []:
                consumers.setdefault(str(queue["name"]), []).append(node)
        return consumers

    def inspect_every(
        self, methods: tuple[str, ...], timeout: float = 1.0
    ) -> dict[str, dict[str, Any]]:
        """method -> node -> reply, asking every worker on the broker (whoever answers the
        first method within timeout; the others are asked of those nodes, and answer as
        soon as all of them replied). A method Celery's Inspect lacks is a command the
        kit's workers add (container/outcomes.py)."""
        out: dict[str, dict[str, Any]] = {}
        nodes: list[str] | None = None
        with self.app.connection_for_write() as conn:
            for method in methods:
                options: dict[str, Any] = {}
                if nodes is not None:
                    if not nodes:
                        out[method] = {}
                        continue
                    options = {"destination": nodes, "limit": len(nodes)}
                inspect = self.app.control.inspect(timeout=timeout, connection=conn, **options)
                ask = getattr(inspect, method, None)
                out[method] = (ask() if ask else inspect._request(method)) or {}
                if nodes is None:
                    nodes = sorted(out[method])
        return out
