"""Flower's app (`celery -A stack.container.monitor:app flower`): boot's app on kombu's own
Redis transport, and Flower's RabbitMQ queue lookup fixed for the default virtual host.

Flower tells the broker's kind by the scheme of the URL its connection gives back
(flower/utils/broker.py, Broker): with the kit's transport, named by its class path, that URL
reads `stack.container.transport:Transport://...`, and Flower answered queue lengths and its
Broker page with 404 "'redis' broker is not supported". The kit's transport saves a
producer a client object per publish (transport.py); Flower publishes only remote-control
commands, so kombu's own costs it nothing that matters.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import tornado.web
from flower.utils import broker  # type: ignore[import-untyped]
from flower.views import monitor  # type: ignore[import-untyped]

from stack.container.boot import app
from stack.settings.celeryconf import TRANSPORT

if app.conf.broker_transport == TRANSPORT:  # a topology's own choice stays
    app.conf.broker_transport = None


class RabbitMQ(broker.RabbitMQ):  # type: ignore[misc]
    """Flower's management-API client, asking for the default virtual host as `%2F`.

    Flower 2.2 leaves the vhost "/" unquoted and asks `/api//queues//`, which RabbitMQ
    answers 404 (seen on 3.10: `/api/queues/%2F` is 200), so every queue read empty. No
    option reaches that path, and the kit's broker URL uses the default vhost.
    """

    def __init__(self, broker_url: str, http_api: str | None, **kwargs: Any) -> None:
        super().__init__(broker_url, http_api, **kwargs)
        if not http_api:  # Flower's default puts the vhost in it too: `/api//`
            self.http_api = f"http://{self.username}:{self.password}@{self.host}:{self.port}/api/"
        self.vhost: str = quote(self.vhost, "")


broker.RabbitMQ = RabbitMQ  # Broker() looks the class up in that module

# Flower 2.2 serves /metrics without its auth (every other page has @web.authenticated):
# the worker names, task names and counts it lists are the topology's, not for anyone.
monitor.Metrics.get = tornado.web.authenticated(monitor.Metrics.get)

__all__ = ["app"]
