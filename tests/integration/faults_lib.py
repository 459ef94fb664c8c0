"""Fault scenarios on a real stack, shared by tests/integration/test_faults.py and bench/faults.py.

Each scenario scales one worker group of tests/integration/apps/faults up from 0, sends
`tasks.work` tasks to that group's queue, breaks something (SIGKILL a worker container,
scale down, restart the broker), scales the group back to 0 and returns Figures: how many
tasks were sent, how many ran at least once, which never ran, and how many ran twice.

Every task appends `start TOKEN NODE` and `done TOKEN NODE` to a Redis list in database 2
of the stack's own Redis (tasks.py), read here through the published 127.0.0.1 port.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP_DIR = Path(__file__).resolve().parent / "apps" / "faults"
TOPOLOGIES = {"redis": "topology.yaml", "rabbitmq": "topology-rabbitmq.yaml"}
EVENTS_DB = 2  # the tasks' execution log (tasks.py)
TASK = "tasks.work"
POLL = 0.25


# -- the execution log -------------------------------------------------------------------------


@dataclass(frozen=True)
class Log:
    """What the tasks recorded: (token, node, time) for every start and every end."""

    starts: list[tuple[int, str, float]]
    dones: list[tuple[int, str, float]]

    @classmethod
    def parse(cls, entries: list[bytes]) -> Log:
        starts, dones = [], []
        for entry in entries:
            kind, token, node, when = entry.decode().split(" ")
            (starts if kind == "start" else dones).append((int(token), node, float(when)))
        return cls(starts, dones)

    def executions(self) -> Counter[int]:
        """token -> how many times it ran to the end."""
        return Counter(token for token, _, _ in self.dones)

    def started_on(self, node: str) -> int:
        return sum(1 for _, n, _ in self.starts if n == node)

    def unfinished_on(self, node: str) -> list[int]:
        """Tokens started on node with no matching end on node (killed or still running)."""
        left = Counter(t for t, n, _ in self.starts if n == node)
        left.subtract(t for t, n, _ in self.dones if n == node)
        return sorted(t for t, count in left.items() if count > 0)

    def last_done(self, tokens: list[int]) -> float | None:
        """When the last of tokens ended (container clock, Unix time); None if one never did."""
        ends = {t: when for t, _, when in self.dones if t in tokens}
        return max(ends.values()) if tokens and len(ends) == len(set(tokens)) else None


@dataclass(frozen=True)
class Figures:
    """One scenario's outcome: sent, ran at least once, never ran, ran more than once."""

    scenario: str
    broker: str
    sent: int
    executions: Counter[int]
    notes: tuple[str, ...] = ()
    variant: str = ""  # e.g. "acks_late false"

    @property
    def completed(self) -> int:
        return sum(1 for token in range(self.sent) if self.executions[token] > 0)

    @property
    def lost_tokens(self) -> list[int]:
        return [token for token in range(self.sent) if self.executions[token] == 0]

    @property
    def lost(self) -> int:
        return len(self.lost_tokens)

    @property
    def duplicated(self) -> int:
        """Tasks that ran to the end more than once (at-least-once allows it)."""
        return sum(1 for token in range(self.sent) if self.executions[token] > 1)

    def line(self) -> str:
        text = (
            f"{self.scenario} {self.broker}{', ' + self.variant if self.variant else ''}: "
            f"sent {self.sent}, completed {self.completed}, "
            f"lost {self.lost}, duplicated {self.duplicated}"
        )
        if self.notes:
            text += f" ({', '.join(self.notes)})"
        return text


# -- a running fault stack ---------------------------------------------------------------------


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} (waited {timeout:g} s)")
        time.sleep(POLL)


def copy_app(broker: str, directory: Path, prefix: str) -> Path:
    """The faults app copied to directory, its topology renamed to a unique project name."""
    shutil.copytree(
        APP_DIR, directory, dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".stack", "__pycache__"),
    )  # fmt: skip
    name = f"{prefix}-{broker[:3]}-{secrets.token_hex(3)}"
    text = (APP_DIR / TOPOLOGIES[broker]).read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^name: .*$", f"name: {name}", text)
    assert count == 1, f"{TOPOLOGIES[broker]} has no top-level name:"
    path = directory / "topology.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class FaultStack:
    """A running copy of the faults app: send tasks, read the log, scale, break things."""

    def __init__(self, path: Path, docker: Any, broker: str) -> None:
        from stack.topology.load import load

        self.path = path
        self.docker = docker  # the Docker SDK client
        self.broker = broker
        self.loaded = load(path)
        self.name = self.loaded.topology.name
        self._producer: Any = None
        self._events: Any = None

    @classmethod
    def start(cls, broker: str, directory: Path, docker: Any, prefix: str) -> FaultStack:
        """`stack up` a fresh copy (every group at 0 replicas); close() takes it down."""
        from stack.deploy.ops.up import up

        stack = cls(copy_app(broker, directory, prefix), docker, broker)
        try:
            up(stack.path, timeout=150)
        except BaseException:
            stack.close()
            raise
        return stack

    def close(self) -> None:
        """Everything the stack created goes: containers, network, volumes, app image."""
        from stack.deploy.ops.down import down

        self.disconnect()
        try:
            down(self.path, volumes=True)
        finally:
            with suppress(Exception):  # a failed up may never have built it
                self.docker.images.remove(f"{self.name}-app:latest", noprune=False)

    # -- connections through the published ports (they may change when the broker restarts)

    def urls(self) -> tuple[str, str]:
        from stack.deploy.ops.endpoints import host_urls

        broker, backend = host_urls(self.loaded)
        assert backend is not None, "the faults topologies keep results in the kit's Redis"
        return broker, backend

    def producer(self) -> Any:
        """A bare Celery app with the topology's settings: sends by name, imports no tasks."""
        if self._producer is None:
            from celery import Celery

            from stack.producer import configure

            broker, backend = self.urls()
            app = Celery(f"{self.name}-producer", set_as_current=False)
            self._producer = configure(app, self.loaded.topology, broker, backend)
        return self._producer

    def events(self) -> Any:
        if self._events is None:
            import redis

            _, backend = self.urls()
            self._events = redis.Redis.from_url(
                f"{backend.rsplit('/', 1)[0]}/{EVENTS_DB}", socket_timeout=5
            )
        return self._events

    def disconnect(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
        if self._events is not None:
            self._events.close()
            self._events = None

    # -- tasks ---------------------------------------------------------------------------------

    def new_run(self, scenario: str) -> str:
        return f"{scenario}-{secrets.token_hex(4)}"

    def send(self, run: str, queue: str, durations: list[float]) -> None:
        """One task per duration, tokens 0..n-1, to queue."""
        app = self.producer()
        # One connection, closed at the end: the app's pool would keep one open.
        with app.connection_for_write() as conn, conn.Producer() as producer:
            for token, seconds in enumerate(durations):
                app.send_task(TASK, args=(run, token, seconds), queue=queue, producer=producer)

    def log(self, run: str) -> Log:
        return Log.parse(self.events().lrange(f"{run}:events", 0, -1))

    def depth(self, queue: str) -> int:
        """Messages ready in queue (not those delivered and unacknowledged)."""
        from kombu import Connection

        broker, _ = self.urls()
        with Connection(broker, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
            try:
                return int(conn.default_channel.queue_declare(queue=queue, passive=True)[1])
            except conn.channel_errors:  # Redis: an empty queue has no key
                return 0

    def unacked(self) -> int:
        """Redis: messages delivered to a consumer and not acknowledged yet (any queue)."""
        if self.broker != "redis":
            return 0  # RabbitMQ requeues a dead connection's deliveries at once
        import redis

        broker, _ = self.urls()
        with redis.Redis.from_url(broker, socket_timeout=5) as client:
            return int(client.hlen("unacked"))

    def settle(self, run: str, sent: int, queue: str, timeout: float, quiet: float = 3.0) -> Log:
        """Wait until every task ran, or nothing is left to run (queue empty, nothing
        unacknowledged, no task started or ended for `quiet` seconds), or the timeout."""
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while True:
            log = self.log(run)
            if len(log.executions()) >= sent or time.monotonic() >= deadline:
                return log
            size = len(log.starts) + len(log.dones)
            if size != seen:
                seen, since = size, time.monotonic()
            elif time.monotonic() - since >= quiet and not self.depth(queue) + self.unacked():
                return log
            time.sleep(POLL)

    # -- containers ----------------------------------------------------------------------------

    def node(self, group: str, replica: int) -> str:
        """Celery node name of a replica: GROUP@container name."""
        return f"{group}@{self.container_name(group, replica)}"

    def container_name(self, service: str, replica: int) -> str:
        return f"{self.name}-{service}-{replica}"

    def container(self, service: str, replica: int = 1) -> Any:
        return self.docker.containers.get(self.container_name(service, replica))

    def scale(self, group: str, replicas: int) -> float:
        """`stack scale GROUP=N` (waits for pings, stops gracefully); returns the seconds."""
        from stack.deploy.ops.scale import scale

        started = time.monotonic()
        scale(self.path, [f"{group}={replicas}"], timeout=90)
        return time.monotonic() - started

    def stops(self, names: list[str], since: int) -> dict[str, dict[str, list[str]]]:
        """Docker events of those containers since a time: name -> {"signals", "exit codes"}."""
        found: dict[str, dict[str, list[str]]] = {n: {"signals": [], "exits": []} for n in names}
        stream = self.docker.events(
            since=since, until=int(time.time()) + 1, decode=True,
            filters={"type": "container", "label": f"io.stack.project={self.name}"},
        )  # fmt: skip
        for event in stream:
            attributes = event.get("Actor", {}).get("Attributes", {})
            name = attributes.get("name")
            if name not in found:
                continue
            if event.get("Action") == "kill":
                found[name]["signals"].append(str(attributes.get("signal")))
            elif event.get("Action") == "die":
                found[name]["exits"].append(str(attributes.get("exitCode")))
        return found


# -- the scenarios -----------------------------------------------------------------------------


def killed_worker(
    stack: FaultStack,
    group: str = "victims",
    sent: int = 120,
    timeout: float = 60,
) -> tuple[Figures, list[int]]:
    """R1: SIGKILL replica 2 of two (Docker SDK) while its tasks run; the other takes over.

    Tasks last 0.1 to 0.4 s in turn: equal durations keep a worker's two pool processes in
    step, so both would sometimes sit between tasks at the instant of the kill.
    Returns the figures and the tokens that were running on the killed replica.
    """
    run, queue, victim = stack.new_run("r1"), f"{group}_q", 2
    node = stack.node(group, victim)
    stack.scale(group, 2)
    try:
        stack.send(run, queue, [0.1 * (1 + token % 4) for token in range(sent)])

        def busy() -> bool:
            log = stack.log(run)
            return log.started_on(node) >= 4 and bool(log.unfinished_on(node))

        wait_for(busy, 30, f"{node} is running no task")
        container = stack.container(group, victim)
        killed_at = time.time()
        container.kill(signal="SIGKILL")
        wait_for(
            lambda: stack.docker.containers.get(container.id).status == "exited",
            10, f"{container.name} still runs after SIGKILL",
        )  # fmt: skip
        killed = stack.log(run).unfinished_on(node)
        log = stack.settle(run, sent, queue, timeout)
    finally:
        stack.scale(group, 0)
    notes = (f"{len(killed)} killed while running",)
    rerun = log.last_done(killed)
    if rerun is not None:
        notes += (f"run again within {rerun - killed_at:.1f} s of the kill",)
    variant = "" if stack.loaded.topology.workers[group].acks_late else "acks_late false"
    return Figures("R1", stack.broker, sent, log.executions(), notes, variant), killed


def scale_down(
    stack: FaultStack,
    group: str = "drain",
    short: int = 100,
    short_seconds: float = 0.2,
    long: int = 8,
    long_seconds: float = 3.0,
    timeout: float = 60,
) -> tuple[Figures, dict[str, Any]]:
    """R2: `stack scale GROUP=1` from 4 while tasks run: a warm shutdown of replicas 2-4.

    A few long tasks go first, so the stopped replicas are busy when SIGTERM arrives.
    Returns the figures and per stopped container: tasks running at the stop, those left
    unfinished there, Docker's kill signals and exit codes.
    """
    run, queue = stack.new_run("r2"), f"{group}_q"
    stack.scale(group, 4)
    removed = [stack.node(group, replica) for replica in (2, 3, 4)]
    names = [stack.container_name(group, replica) for replica in (2, 3, 4)]
    try:
        stack.send(run, queue, [long_seconds] * long + [short_seconds] * short)
        wait_for(
            lambda: all(stack.log(run).started_on(n) for n in removed),
            30, "a replica to be removed ran no task",
        )  # fmt: skip
        before = stack.log(run)
        running = {n: before.unfinished_on(n) for n in removed}
        since = int(time.time()) - 1
        took = stack.scale(group, 1)
        stops = stack.stops(names, since)
        log = stack.settle(run, short + long, queue, timeout)
    finally:
        stack.scale(group, 0)
    grace = stack.loaded.topology.workers[group].effective_grace_period
    detail = {
        "seconds": took,
        "grace": grace,
        "running": running,
        "unfinished": {n: log.unfinished_on(n) for n in removed},
        "stops": stops,
    }
    exits = sorted({code for stop in stops.values() for code in stop["exits"]})
    notes = (
        f"{sum(map(len, running.values()))} running at the stop",
        f"4->1 in {took:.1f} s, grace {grace} s",
        f"exit codes {'/'.join(exits) or 'none'}",
    )
    return Figures("R2", stack.broker, short + long, log.executions(), notes), detail


def broker_restart(
    stack: FaultStack,
    group: str = "parked",
    sent: int = 200,
    seconds: float = 0.05,
    timeout: float = 60,
) -> tuple[Figures, dict[str, Any]]:
    """R3: tasks queued with no consumer, `docker restart` the broker, then consume them.

    Returns the figures, the queue depth before and after the restart, and Docker's kill
    signals and exit codes of the broker container (a clean stop: SIGTERM, exit 0).
    """
    run, queue = stack.new_run("r3"), f"{group}_q"
    stack.send(run, queue, [seconds] * sent)
    wait_for(lambda: stack.depth(queue) >= sent, 15, f"{sent} tasks in {queue}")
    before = stack.depth(queue)
    broker = stack.container(stack.broker)
    stack.disconnect()
    since, started = int(time.time()) - 1, time.monotonic()
    broker.restart(timeout=int(broker.attrs["Config"].get("StopTimeout") or 10))

    def answers() -> bool:
        try:
            stack.depth(queue)
            stack.events().ping()
        except Exception:  # refused, reset, loading the AOF, port not published yet
            stack.disconnect()
            return False
        return True

    wait_for(answers, 90, f"{stack.broker} to answer after its restart")
    restart = time.monotonic() - started
    stop = stack.stops([broker.name], since)[broker.name]
    after = stack.depth(queue)
    stack.scale(group, 1)
    try:
        log = stack.settle(run, sent, queue, timeout)
    finally:
        stack.scale(group, 0)
    notes = (
        f"queued {before} before the restart, {after} after",
        f"restart {restart:.1f} s, exit code {'/'.join(stop['exits']) or 'none'}",
    )
    detail = {"before": before, "after": after, "seconds": restart, "stop": stop}
    return Figures("R3", stack.broker, sent, log.executions(), notes), detail


def broker_outage(
    stack: FaultStack, group: str = "parked", sent: int = 20, timeout: float = 60
) -> tuple[Figures, dict[str, Any]]:
    """A broker down longer than the liveness probe allows a stale alive file: the worker
    retrying its connection stays alive (probe passes, no restart), then runs new tasks.

    Returns the figures of the tasks sent after the broker came back, and the probe's exit
    codes during the outage, the worker's restart count and the outage's seconds.
    """
    from stack.container import health

    stack.scale(group, 1)
    worker = stack.container(group)
    broker = stack.container(stack.broker)
    stack.disconnect()
    started = time.monotonic()
    probes: list[int] = []
    try:
        broker.stop(timeout=int(broker.attrs["Config"].get("StopTimeout") or 10))
        while time.monotonic() - started < health.ALIVE_STALE + 15:
            time.sleep(5)
            probes.append(worker.exec_run(["sh", "-c", health.ALIVE_PROBE]).exit_code)
    finally:
        broker.start()
    outage = time.monotonic() - started
    worker.reload()
    restarts = int(worker.attrs.get("RestartCount", 0))
    running = worker.status == "running"

    def answers() -> bool:
        try:
            stack.depth(f"{group}_q")
            stack.events().ping()
        except Exception:  # refused, reset, loading the AOF, port not published yet
            stack.disconnect()
            return False
        return True

    wait_for(answers, 90, f"{stack.broker} to answer after the outage")
    run, queue = stack.new_run("outage"), f"{group}_q"
    stack.send(run, queue, [0.05] * sent)
    try:
        log = stack.settle(run, sent, queue, timeout)
    finally:
        stack.scale(group, 0)
    notes = (f"broker down {outage:.0f} s, probe exits {probes}, restarts {restarts}",)
    detail = {"probes": probes, "restarts": restarts, "running": running, "seconds": outage}
    return Figures("R4", stack.broker, sent, log.executions(), notes), detail
