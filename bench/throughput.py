"""P1: drain rates of no-op and 10 ms I/O tasks, the kit's groups against a plain worker.

Method (the same for every row, see bench/RESULTS.md): the consumers are running and idle;
they are told to stop consuming the row's queue (remote control `cancel_consumer`, then
1.2 s so that a BRPOP in flight cannot take a message); N copies of one message made by
Celery's own send_task are pushed onto the queue with Redis pipelines, each with a fresh
task id and delivery tag; the clock starts when `add_consumer` is broadcast and stops when
the tasks have counted N executions (an INCR each, in Redis database 2). Both sides run the
same task code from the same image on the same Redis.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

from harness import BenchStack

PLAIN = "plain"
QUIET = {"ignore_result": True, "log_level": "WARNING"}

# One queue per row, so that every row's consumers start from the same state.
TOPOLOGY: dict[str, Any] = {
    "queues": [
        "q_default",
        "q_events",
        "q_short",
        "q_short2",
        "q_threads",
        "q_io",
        "q_io2",
        "q_raw",
    ],
    "workers": {
        "dflt": {"queues": ["q_default"]},
        "short": {"queues": ["q_short"], "workload": "short", **QUIET},
        "short2": {"queues": ["q_short2"], "workload": "short", "replicas": 2, **QUIET},
        "threads": {"queues": ["q_threads"], "pool": "threads"},
        "io": {"queues": ["q_io"], "workload": "io", **QUIET},
        "io2": {"queues": ["q_io2"], "workload": "io", "replicas": 2, **QUIET},
    },
    # Flower turns task events on in every worker of the broker (its enable_events
    # broadcast): the events row measures that cost on its own container.
    "monitor": {"flower": False},
}

RAW_CONSUMER = """
import json, os, sys, time
from kombu import Connection, Consumer, Exchange, Queue
count, got = int(sys.argv[1]), [0]
def on_message(body, message):
    message.ack()
    got[0] += 1
with Connection(os.environ["BENCH_URL"]) as conn:
    queue = Queue("q_raw", Exchange("q_raw", type="direct"), "q_raw")
    with Consumer(conn.channel(), [queue], callbacks=[on_message], accept=["json"]):
        started = time.perf_counter()
        while got[0] < count:
            conn.drain_events(timeout=30)
        print(json.dumps({"seconds": time.perf_counter() - started}))
"""


@dataclass
class Row:
    label: str
    task: str
    queue: str
    db: int
    nodes: list[str]
    rates: list[float]


def node(stack: BenchStack, group: str, replica: int = 1) -> str:
    return f"{group}@{stack.name}-{group}-{replica}"


def start_extras(stack: BenchStack) -> dict[str, list[str]]:
    """The plain Celery worker and the kit's default worker with events (-E)."""
    from stack.deploy import services as plan
    from stack.deploy.secrets import container_env

    topology = stack.project.topology
    plain = stack.run(
        PLAIN,
        ["celery", "-A", "benchtasks:app", "worker"],  # every Celery default: -c = 2 CPUs
        {"CELERY_BROKER_URL": stack.url(3, True), "CELERY_RESULT_BACKEND": stack.url(4, True)},
    )
    command = list(plan.worker_command("events", topology.workers["dflt"], topology))
    command[command.index("-Q") + 1] = "q_events"
    env = {
        **container_env(topology, stack.project.secrets),
        **plan.app_environment(topology),
        "STACK_GROUP": "dflt",
    }
    stack.run("events", [*command, "-E"], env)
    nodes = {PLAIN: [f"celery@{plain.name}"], "events": [f"events@{stack.name}-events-1"]}
    stack.wait_ping(3, nodes[PLAIN])
    stack.wait_ping(0, nodes["events"])
    return nodes


def raw_ceiling(stack: BenchStack, template: bytes, count: int) -> float:
    """Seconds for one raw kombu consumer (in a container, like a worker) to take and ack
    count messages."""
    stack.push(0, "q_raw", template, count)
    container = stack.run(
        "raw", ["python", "-c", RAW_CONSUMER, str(count)], {"BENCH_URL": stack.url(0, True)},
        restart=False,
    )  # fmt: skip
    try:
        result = container.wait(timeout=120 + count / 100)
        logs = container.logs().decode()
        if result.get("StatusCode") != 0:
            raise RuntimeError(f"raw consumer failed: {logs[-500:]}")
        return float(json.loads(logs.strip().splitlines()[-1])["seconds"])
    finally:
        stack.remove(container)


def run(stack: BenchStack, tasks: int, io_tasks: int, rounds: int) -> list[tuple[str, str]]:
    """Table rows (label, figures) for P1."""
    from celery import Celery

    import stack as kit

    extras = start_extras(stack)
    producer = kit.connect(stack.path)
    plain_producer = Celery("plain", broker=stack.url(3), backend=stack.url(4))
    noop, io = "bench.noop", "bench.io"
    rows = [
        Row("no-op: plain `celery worker` (prefork -c 2, prefetch 4)", noop, "celery", 3,
            extras[PLAIN], []),
        Row("no-op: stack defaults (workload long: prefork 2, prefetch 1, results)", noop,
            "q_default", 0, [node(stack, "dflt")], []),
        Row("no-op: stack defaults + task events (Flower on)", noop, "q_events", 0,
            extras["events"], []),
        Row("no-op: stack workload short, ignore_result, WARNING", noop, "q_short", 0,
            [node(stack, "short")], []),
        Row("no-op: same, replicas 2", noop, "q_short2", 0,
            [node(stack, "short2", 1), node(stack, "short2", 2)], []),
        Row("10 ms I/O: plain `celery worker` (prefork -c 2)", io, "celery", 3,
            extras[PLAIN], []),
        Row("10 ms I/O: stack pool threads (16, prefetch 1, results)", io, "q_threads", 0,
            [node(stack, "threads")], []),
        Row("10 ms I/O: stack workload io (threads 32, prefetch 4), ignore_result", io, "q_io",
            0, [node(stack, "io")], []),
        Row("10 ms I/O: same, replicas 2", io, "q_io2", 0,
            [node(stack, "io2", 1), node(stack, "io2", 2)], []),
    ]  # fmt: skip
    templates = {}
    for row in rows:
        app = plain_producer if row.db == 3 else producer
        templates[row.label] = stack.template(app, row.db, row.task, ["n"], row.queue, row.nodes)
    raw_template = stack.template(producer, 0, noop, ["n"], "q_raw", [])
    raw: list[float] = []
    for number in range(rounds):
        # Rounds interleave the rows, so a noisy minute hits every row alike.
        for row in rows if number % 2 == 0 else reversed(rows):
            count = tasks if row.task == noop else io_tasks
            seconds = stack.drain(row.db, row.queue, row.nodes, templates[row.label], count, "n")
            row.rates.append(count / seconds)
            print(f"  {row.label}: {count / seconds:,.0f}/s", flush=True)
        raw.append(tasks / raw_ceiling(stack, raw_template, tasks))
        print(f"  raw kombu: {raw[-1]:,.0f}/s", flush=True)
        time.sleep(1)
    return table(rows, statistics.median(raw))


def table(rows: list[Row], raw: float) -> list[tuple[str, str]]:
    out = []
    base = {noop_or_io(r): statistics.median(r.rates) for r in rows if r.db == 3}
    for row in rows:
        rate = statistics.median(row.rates)
        ratio = rate / base[noop_or_io(row)]
        out.append((f"P1 {row.label}", f"{rate:,.0f}/s  {ratio:.2f}x plain"))
    out.append(("P1 no-op: raw kombu consume+ack (ceiling)", f"{raw:,.0f}/s"))
    best = max(statistics.median(r.rates) for r in rows if r.task == "bench.noop")
    out.append(("P1 ceiling / best stack no-op", f"{raw / best:.2f}x (goal <= 3x)"))
    return out


def noop_or_io(row: Row) -> str:
    return row.task
