"""How many messages wait in each queue and how long the oldest has waited, as the broker
itself says: for `stack top` on the host and the metrics exporter in its container.

The kit's producers stamp each task message with the AMQP `timestamp` property (seconds;
settings/guards.py). The oldest waiting message is at the head of each list on Redis (one
list per priority step, read with LINDEX) and RabbitMQ's management API reports it as
`head_message_timestamp`. A message sent without a stamp has no age: None.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

# kombu's Redis transport: priority steps 0 (the queue's own list), 3, 6 and 9
# ("{queue}\x06\x16{step}"); RabbitMQ keeps priorities inside one queue (step 0).
REDIS_SEP = "\x06\x16"
REDIS_STEPS = (0, 3, 6, 9)
MANAGEMENT_PORT = 15672
log = logging.getLogger(__name__)


def redis_key(queue: str, step: int) -> str:
    return queue if step == 0 else f"{queue}{REDIS_SEP}{step}"


@dataclass(frozen=True)
class Depths:
    pending: dict[str, dict[int, int]]  # queue -> priority step -> messages waiting
    oldest: dict[str, float | None] = field(default_factory=dict)  # queue -> age, seconds


def sent_at(raw: bytes | str | None) -> float | None:
    """The stamp of a message as kombu's Redis transport stores it (JSON), if it has one."""
    if raw is None:
        return None
    try:
        stamp = json.loads(raw).get("properties", {}).get("timestamp")
        return None if stamp is None else float(stamp)
    except (ValueError, TypeError, AttributeError):
        return None


def age(stamps: list[float | None], now: float) -> float | None:
    """How long the oldest of stamps has waited; None if none has a stamp."""
    known = [s for s in stamps if s is not None]
    return None if not known else max(0.0, now - min(known))


def redis_depths(url: str, queues: list[str], now: float | None = None) -> Depths:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                for step in REDIS_STEPS:
                    pipe.llen(redis_key(queue, step))
                    pipe.lindex(redis_key(queue, step), -1)  # LPUSH in, BRPOP out
            answers = iter(pipe.execute())
    finally:
        client.close()
    now = time.time() if now is None else now
    pending: dict[str, dict[int, int]] = {}
    oldest: dict[str, float | None] = {}
    for queue in queues:
        steps, stamps = {}, []
        for step in REDIS_STEPS:
            steps[step] = int(next(answers))
            stamps.append(sent_at(next(answers)))
        pending[queue], oldest[queue] = steps, age(stamps, now)
    return Depths(pending, oldest)


def amqp_depths(url: str, queues: list[str]) -> dict[str, int]:
    from amqp.exceptions import NotFound  # type: ignore[import-untyped]
    from kombu.connection import Connection

    depths = {}
    with Connection(url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
        for queue in queues:
            channel = conn.channel()
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except NotFound:
                depths[queue] = 0  # not declared yet: no worker consumed, nothing sent
            finally:
                channel.close()
    return depths


def management_url(broker_url: str, host: str, port: int) -> str:
    """RabbitMQ's management API at host:port, with the broker URL's user and password, and
    its virtual host as the path: http://USER:PASSWORD@HOST:PORT/api/queues/VHOST."""
    parts = urllib.parse.urlsplit(broker_url)
    user = urllib.parse.quote(urllib.parse.unquote(parts.username or "guest"), "")
    password = urllib.parse.quote(urllib.parse.unquote(parts.password or "guest"), "")
    vhost = urllib.parse.unquote(parts.path[1:]) if parts.path not in ("", "/") else "/"
    return f"http://{user}:{password}@{host}:{port}/api/queues/{urllib.parse.quote(vhost, '')}"


def rabbitmq_heads(api: str, queues: list[str]) -> dict[str, float | None]:
    """queue -> the stamp of its head message, from one call of the management API at api
    (management_url). The API unreachable (plugin still starting, an external broker
    without it): no ages, and a warning, but never an error: depths do not need it."""
    parts = urllib.parse.urlsplit(api)
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    url = f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path}"
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"{url}?columns=name,head_message_timestamp", headers={"Authorization": f"Basic {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:  # http only
            rows = json.loads(answer.read())
    except (OSError, ValueError) as exc:  # the URL without its credentials in the message
        log.warning("stack: RabbitMQ's management API at %s: %s", url, exc)
        return dict.fromkeys(queues)
    stamps: dict[str, float] = {
        str(row["name"]): float(row["head_message_timestamp"])
        for row in rows
        if isinstance(row, dict) and row.get("head_message_timestamp") is not None
    }
    return {q: stamps.get(q) for q in queues}


def read(broker_url: str, queues: list[str], management: str | None = None) -> Depths:
    """Depths and oldest ages of queues; on RabbitMQ ages need management (its API URL)."""
    if broker_url.startswith(("redis://", "rediss://")):
        return redis_depths(broker_url, queues)
    pending = {q: {0: n} for q, n in amqp_depths(broker_url, queues).items()}
    if management is None:
        return Depths(pending, {q: None for q in queues})
    now = time.time()
    heads = rabbitmq_heads(management, queues)
    # The management API refreshes its statistics every 5 s (collect_statistics_interval):
    # an emptied queue's old head stamp lingers there, the AMQP depth is current.
    oldest = {q: age([heads.get(q)], now) if pending[q][0] else None for q in queues}
    return Depths(pending, oldest)
