"""P2: enqueue -> task start at a steady rate on an idle stack.

The producer (on the host, through the published port) takes time.time() just before
send_task and passes it as an argument; the task's first statement takes time.time() again
(containers share the host's clock) and appends the difference to a Redis list.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from harness import BenchStack


def measure(
    stack: BenchStack,
    app: Any,
    queue: str,
    rate: float,
    seconds: float,
    send_ms: list[float] | None = None,
) -> list[float]:
    """Latencies in ms of rate*seconds tasks sent at a steady rate to queue.

    send_ms, if given, receives how long each send_task call took on the producer: part
    of every latency, and on a slow host a large part.
    """
    key = f"lat:{queue}"
    client = stack.redis(2)
    client.delete(key)
    count = int(rate * seconds)
    with app.producer_or_acquire() as producer:
        app.send_task("bench.stamp", args=[key, time.time()], queue=queue, producer=producer)
        time.sleep(0.5)  # warm: connections made, first task imported
        client.delete(key)
        start = time.perf_counter()
        for index in range(count):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            app.send_task("bench.stamp", args=[key, time.time()], queue=queue, producer=producer)
            if send_ms is not None:
                send_ms.append((time.perf_counter() - sent) * 1000)
    deadline = time.monotonic() + 30
    while client.llen(key) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [float(v) * 1000 for v in client.lrange(key, 0, -1)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(stack: BenchStack, rate: float, seconds: float) -> list[tuple[str, str]]:
    from celery import Celery

    import stack as kit

    targets = [
        ("plain `celery worker`", Celery("plain", broker=stack.url(3), backend=stack.url(4)),
         "celery"),
        ("stack defaults (workload long)", kit.connect(stack.path), "q_default"),
        ("stack workload short, ignore_result, WARNING", kit.connect(stack.path), "q_short"),
        ("the same, replicas 2", kit.connect(stack.path), "q_short2"),
    ]  # fmt: skip
    rows = []
    for label, app, queue in targets:
        send_ms: list[float] = []
        values = measure(stack, app, queue, rate, seconds, send_ms)
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        send = statistics.median(send_ms)
        print(
            f"  {label}: n={len(values)} p50 {p50:.2f} ms p99 {p99:.2f} ms "
            f"(send_task p50 {send:.2f} ms)",
            flush=True,
        )
        rows.append(
            (
                f"P2 latency at {rate:g}/s: {label}",
                f"p50 {p50:.2f} ms  p99 {p99:.2f} ms (n={len(values)}; "
                f"send_task itself p50 {send:.2f} ms)",
            )
        )
    return rows
