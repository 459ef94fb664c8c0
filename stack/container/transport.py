"""kombu's Redis transport, with one command client per channel.

kombu's Redis channel builds a new `redis.Redis` for every command outside its polling
loop: each publish, each ack, each queue lookup. With redis-py 8 that constructor copies
about 170 response callbacks into a case-insensitive dict, 0.3 ms of CPU each time, so a
producer paid more for building clients than for the LPUSH itself (send_task 0.80 -> 0.52
ms: bench/RESULTS.md, "2026-12-02, dca0142: a producer's send_task, and the Redis
transport"). The cached client runs on the same connection pool, and a redis.Redis holds
no per-command state, so commands still take a pooled connection each and release it:
only the Python object is reused. It is rebuilt when kombu replaces the pool (after a
connection error, or in a forked child).

Selected by the kit's `broker_transport` setting for redis:// and rediss:// brokers; a
topology's `celery: {broker_transport: redis}` goes back to kombu's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    _command_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        cached = self._command_client
        if cached is None or cached.connection_pool is not self.pool:
            cached = self._command_client = self._create_client()  # type: ignore[no-untyped-call]
        yield cached


class Transport(redis.Transport):
    Channel = Channel
