"""P5: what watching costs: no-op drain rates with `stack top` and a Prometheus scrape
running, against the same stack and group unwatched, task events off.

Watchers (a subprocess, so that they share no interpreter with the clock): a `stack top`
snapshot (what its live view draws: the broker's depths, four inspect rounds, beat's file)
and a scrape of the exporter's /metrics, each once a second: 2-4 times what the live view
(every 2 s) and Prometheus (every 15-60 s) ask. Rows interleave by round. Also: what the
kit's per-task outcome counting (container/outcomes.py) adds to a request, in process.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import timeit
from typing import Any

from harness import BenchStack
from throughput import node

WATCH = """
import sys, time, urllib.request
from stack.deploy.ops.top import observe
path, url = sys.argv[1], sys.argv[2]
while True:
    started = time.monotonic()
    observe(path)
    urllib.request.urlopen(url, timeout=10).read()
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
"""


def watchers(stack: BenchStack) -> subprocess.Popen[bytes]:
    from stack.deploy.docker import client as docker_client
    from stack.deploy.ops.up import metrics_url

    url = metrics_url(docker_client.get(), stack.project)
    assert url, "the bench stack runs no exporter (monitor.metrics)"
    return subprocess.Popen([sys.executable, "-c", WATCH, str(stack.path), url])


def counting_cost(calls: int = 200_000) -> float:
    """Seconds the outcome counting adds to one task (its send_event of task-succeeded)."""
    from stack.container.outcomes import Outcomes

    seen = Outcomes()
    return min(timeit.repeat(lambda: seen.note("succeeded", 0.001), number=calls, repeat=5)) / (
        calls
    )


def run(stack: BenchStack, tasks: int, rounds: int) -> list[tuple[str, str]]:
    import stack as kit

    producer = kit.connect(stack.path)
    nodes = [node(stack, "short")]
    template = stack.template(producer, 0, "bench.noop", ["n"], "q_short", nodes)
    rates: dict[str, list[float]] = {"unwatched": [], "watched": []}
    for number in range(rounds):
        for label in ("unwatched", "watched") if number % 2 == 0 else ("watched", "unwatched"):
            watching: Any = watchers(stack) if label == "watched" else None
            try:
                if watching is not None:
                    time.sleep(2)  # the watchers' first imports are done
                seconds = stack.drain(0, "q_short", nodes, template, tasks, "n")
                if watching is not None and watching.poll() is not None:
                    raise RuntimeError(f"the watchers ended early ({watching.returncode})")
            finally:
                if watching is not None:
                    watching.kill()
                    watching.wait()
            rates[label].append(tasks / seconds)
            print(f"  no-op, {label}: {tasks / seconds:,.0f}/s", flush=True)
    plain, watched = (statistics.median(rates[k]) for k in ("unwatched", "watched"))
    cost = counting_cost()
    return [
        ("P5 no-op, workload short, unwatched", f"{plain:,.0f}/s"),
        ("P5 no-op, same, `stack top` + /metrics once a second",
         f"{watched:,.0f}/s  {watched / plain:.2f}x unwatched (goal >= 0.95x)"),
        ("P5 outcome counting per task", f"{cost * 1e6:.2f} us = "
         f"{cost * plain * 100:.2f}% of a no-op task at {plain:,.0f}/s"),
    ]  # fmt: skip
