"""Real readiness: the broker answers, each worker replica answers a ping, Flower serves.

Docker's own health status is only used for beat (its ready file); everything else is
checked from the host through the published ports, as a producer would see it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from stack.container.health import READY_PROBE
from stack.container.observed import METRICS_HEALTH, METRICS_PORT
from stack.deploy.docker import client as docker_client
from stack.deploy.docker.client import Container, DockerClient
from stack.deploy.ops import diagnose
from stack.deploy.ops.control import Control
from stack.deploy.ops.endpoints import host_address
from stack.deploy.ops.project import Project
from stack.deploy.roles import APP_ROLES, Role
from stack.deploy.services import AMQP_PORT, FLOWER_PORT, REDIS_PORT, Service
from stack.errors import NotReadyError, StackError

LOG_LINES = 20
CRASH_RESTARTS = 3  # a container restarted this often is crash-looping: fail early
POLL = 0.05
# Short: a replica that starts just after a ping was broadcast answers the next one. A
# running worker answers within ~20 ms here, but a ping with a silent node waits twice its
# window in kombu's reply loop: at 0.15 s each round took 0.3 s, and the last replica to
# start was seen 0.1-0.5 s after its "ready."; at 0.05 s a round takes 0.07 s (`stack scale
# red=4` median 2.77 -> 2.55 s, 6 rounds alternating). A loaded host whose replies come
# later than this gets a wider window after PING_WINDOW_STEADY.
PING_TIMEOUT = 0.05
PING_WINDOW_GROWTH = 0.05  # seconds of reply window per second of waiting
PING_WINDOW_MAX = 1.0
PING_WINDOW_STEADY = 5.0  # seconds before the window starts to widen
PROBE_EVERY = 0.25

# The control imports Celery in a background thread while this one waits on the engine.
# Two threads importing one package at the same time can each see the other's half of a
# circular import ("cannot import name 'fxrange' from partially initialized module
# 'kombu.utils.functional'", 1 `stack scale` in 10): this thread's own imports of kombu
# and redis wait for the control's to finish. Callers import nothing else of Celery, kombu
# or redis between prepare() and wait().
IMPORTS = threading.Lock()


@dataclass
class Waiting:
    service: Service
    containers: list[Container]
    ready: set[str] = field(default_factory=set)
    detail: str = "starting"
    next_probe: float = 0.0

    @property
    def pending(self) -> list[Container]:
        return [c for c in self.containers if c.name not in self.ready]


def node_name(service: Service, container: Container) -> str:
    """The Celery node name of a worker replica: GROUP@hostname (= container name)."""
    return f"{service.name}@{container.name}"


class Readiness:
    """Probes for a project's services; `wait` polls them until ready or the deadline."""

    def __init__(self, docker: DockerClient, project: Project, console: Console | None) -> None:
        self.docker = docker
        self.project = project
        self.console = console
        self.host = host_address(project.topology)
        self._control: Control | None = None
        self._future: Future[Control] | None = None
        self._first_ping: float | None = None

    # -- probes ---------------------------------------------------------------------------

    def _port(self, container: Container, port: int) -> int | None:
        self.docker.reload(container)
        return docker_client.published_port(container, port)

    def _redis(self, container: Container) -> bool:
        with IMPORTS:
            import redis

        port = self._port(container, REDIS_PORT)
        if port is None:
            return False
        client = redis.Redis(
            host=self.host, port=port, password=self.project.secrets.broker_password,
            socket_connect_timeout=1, socket_timeout=1,
        )  # fmt: skip
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def _rabbitmq(self, container: Container) -> bool:
        with IMPORTS:
            from kombu.connection import Connection

        from stack.deploy.secrets import broker_url

        port = self._port(container, AMQP_PORT)
        if port is None:
            return False
        url = broker_url(self.project.topology, self.project.secrets, self.host, port)
        try:
            with Connection(url, connect_timeout=1) as conn:  # type: ignore[no-untyped-call]
                conn.connect()
                return bool(conn.connected)
        except Exception:  # refused, reset, auth not set up yet: not ready
            return False

    def _flower(self, container: Container) -> bool:
        return self._http(container, FLOWER_PORT, "/healthcheck")

    def _metrics(self, container: Container) -> bool:
        return self._http(container, METRICS_PORT, METRICS_HEALTH)

    def _http(self, container: Container, container_port: int, path: str) -> bool:
        import urllib.request

        port = self._port(container, container_port)
        if port is None:
            return False
        try:
            with urllib.request.urlopen(f"http://{self.host}:{port}{path}", timeout=1) as r:
                return int(r.status) == 200
        except OSError:
            return False

    def _beat(self, container: Container) -> bool:
        self.docker.reload(container)
        if docker_client.health_of(container) == "healthy":
            return True
        return self.docker.exec_ok(container, ["sh", "-c", READY_PROBE])

    def _probe_of(self, service: Service) -> tuple[Callable[[Container], bool], str]:
        """The probe of a non-worker service, by its role (a server's by the type the
        topology gives that role), and what its failure means."""
        topology = self.project.topology
        server = {
            Role.BROKER: topology.broker.type, Role.BACKEND: topology.backend.type,
        }.get(service.role)  # fmt: skip
        if server == "redis":
            return self._redis, f"{service.name} does not answer PING on its published port"
        if server == "rabbitmq":
            return self._rabbitmq, (
                f"{service.name} does not accept an AMQP login on its published port"
            )
        if service.role == Role.MONITOR:
            return self._flower, (
                f"{service.name}'s /healthcheck does not answer on its published port"
            )
        if service.role == Role.METRICS:
            return self._metrics, f"{service.name}'s {METRICS_HEALTH} does not answer"
        return self._beat, "its ready file is missing (container not healthy)"

    def check(self, service: Service, container: Container) -> bool:
        """One probe of one replica of a non-worker service, as `wait` does it."""
        return self._probe_of(service)[0](container)

    def _new_control(self) -> Control:
        from stack.deploy.ops.endpoints import host_urls

        broker, _ = host_urls(self.project.loaded)
        with IMPORTS:
            return Control(self.project.topology, broker)

    def prepare(self) -> None:
        """Set up the remote control in the background once the broker container runs:
        importing Celery takes ~0.3 s, time better spent while the engine starts containers."""
        if self._future is None:
            executor = ThreadPoolExecutor(max_workers=1)
            self._future = executor.submit(self._new_control)
            executor.shutdown(wait=False)

    def control(self) -> Control:
        """Remote control through the broker's published port (found once infra is up)."""
        if self._control is None:
            self.prepare()
            assert self._future is not None
            self._control = self._future.result()
        return self._control

    def _ping_window(self) -> float:
        """Short for the first seconds, so a replica that just started is seen within ~0.2 s;
        then wider the longer nobody answers, so replies slowed by a loaded host or a
        distant broker (a reply that comes after its window is lost) still count."""
        now = time.monotonic()
        if self._first_ping is None:
            self._first_ping = now
        late = max(0.0, now - self._first_ping - PING_WINDOW_STEADY)
        return min(PING_WINDOW_MAX, PING_TIMEOUT + PING_WINDOW_GROWTH * late)

    def _ping_workers(self, items: list[Waiting]) -> None:
        """One broadcast for every pending replica of every group: a ping waits its whole
        timeout unless all answer, so one ping per group would add up while groups start."""
        nodes = {
            node_name(item.service, c): (item, c.name)
            for item in items
            if item.service.role == Role.WORKER
            for c in item.pending
        }
        if not nodes:
            return
        try:
            control = self.control()
        except StackError as exc:  # e.g. the broker container is not running (yet): retry
            self._future = None
            for item, _ in nodes.values():
                item.detail = f"cannot ping: {exc}"
            return
        answered = control.ping(set(nodes), timeout=self._ping_window())
        for node in answered:
            item, container = nodes[node]
            item.ready.add(container)
        for item in items:
            if item.service.role == Role.WORKER and item.pending:
                silent = sorted(node_name(item.service, c) for c in item.pending)
                item.detail = f"no ping answer from {', '.join(silent)}"

    def _probe(self, item: Waiting) -> None:
        check, failure = self._probe_of(item.service)
        for container in item.pending:
            if check(container):
                item.ready.add(container.name)
        item.detail = failure
        if item.service.role == Role.BEAT and not item.pending:
            item.detail = "ready"

    # -- waiting --------------------------------------------------------------------------

    def _crashed(self, item: Waiting) -> Container | None:
        for container in item.pending:
            self.docker.reload(container)
            restarts = int(container.attrs.get("RestartCount") or 0)
            if restarts >= CRASH_RESTARTS or container.status in ("exited", "dead"):
                item.detail = f"{container.name} keeps exiting (restarted {restarts} times)"
                return container
        return None

    def _fail(self, item: Waiting, container: Container, timeout: float | None) -> NotReadyError:
        when = f"after {timeout:g} s" if timeout is not None else "early"
        logs = self.docker.tail(container, LOG_LINES)
        detail = item.detail
        if item.service.role in APP_ROLES:
            # What the container says it is doing (its phase, its stack, its logs).
            why = diagnose.reason(self.docker, container)
            if why:
                detail = f"{detail}: {why}"
        return NotReadyError(
            f"service '{item.service.name}' is not ready {when}: {detail}\n"
            f"last {LOG_LINES} log lines of {container.name}:\n{logs}"
        )

    def wait(self, items: list[Waiting], deadline: float, timeout: float) -> None:
        """Poll until every replica is ready; NotReadyError with logs at the deadline."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        items = [i for i in items if i.containers]
        progress: AbstractContextManager[object]
        bars = Progress(
            SpinnerColumn(), TextColumn("{task.description}"),
            TextColumn("{task.completed}/{task.total} ready"), TimeElapsedColumn(),
            console=self.console, disable=self.console is None, transient=False,
        )  # fmt: skip
        progress = bars if self.console is not None else nullcontext()
        try:
            self._wait(items, bars, progress, deadline=deadline, timeout=timeout)
        finally:
            if self._control is not None:
                self._control.close()
            self._control, self._future, self._first_ping = None, None, None

    def _wait(
        self,
        items: list[Waiting],
        bars: Any,
        progress: AbstractContextManager[object],
        *,
        deadline: float,
        timeout: float,
    ) -> None:
        with progress:
            tasks = {
                i.service.name: bars.add_task(i.service.name, total=len(i.containers))
                for i in items
            }
            last_check = time.monotonic()
            while any(i.pending for i in items):
                # A ping to a broker that is not up yet fails only after its connect
                # timeout: ping once the broker answers its own probe.
                if not any(i.pending for i in items if i.service.role == Role.BROKER):
                    self._ping_workers(items)
                for item in items:
                    now = time.monotonic()
                    if item.pending and item.service.role != Role.WORKER and now >= item.next_probe:
                        # Beat's probe is a `docker exec`: not at every turn of the loop.
                        item.next_probe = now + PROBE_EVERY
                        self._probe(item)
                    bars.update(tasks[item.service.name], completed=len(item.ready))
                if not any(i.pending for i in items):
                    break
                now = time.monotonic()
                if now >= deadline:
                    item = next(i for i in items if i.pending)
                    raise self._fail(item, item.pending[0], timeout)
                if now - last_check >= 1.0:
                    last_check = now
                    for item in items:
                        crashed = self._crashed(item)
                        if crashed is not None:
                            raise self._fail(item, crashed, None)
                time.sleep(POLL)
