"""A benchmark stack: a unique project from bench/app, extra containers, drains, teardown.

Everything the benchmarks create carries the kit's labels with the bench project's name, so
`stack down` (always called on exit) removes the extra containers too. The host reaches
Redis only through its published port on 127.0.0.1; containers reach only the broker.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stack.topology import yamlio

HERE = Path(__file__).resolve().parent
APP_DIR = HERE / "app"
PUSH_CHUNK = 2000
BENCH_ROLE = "bench"
BRPOP_TIMEOUT = 1.2


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


class BenchStack:
    """A running stack of bench/app with the given topology (name made unique)."""

    def __init__(self, topology: dict[str, Any], prefix: str = "bench") -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
        self.name = unique(prefix)
        shutil.copytree(APP_DIR, self.tmp, dirs_exist_ok=True)
        self.path = self.tmp / "topology.yaml"
        self.path.write_text(
            yamlio.dump({"name": self.name, "app": "benchtasks:app", **topology}),
            encoding="utf-8",
        )
        self.up_seconds = 0.0
        self._redis: dict[int, Any] = {}
        self._controls: dict[int, Any] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def up(self) -> None:
        from stack.deploy.ops.up import up

        started = time.perf_counter()
        up(self.path, timeout=180)
        self.up_seconds = time.perf_counter() - started
        from stack.deploy.ops.endpoints import service_port
        from stack.deploy.ops.project import open_project

        self.project = open_project(self.path)
        self.port = service_port(self.project.topology, "redis")
        self.password = self.project.secrets.broker_password
        self.network = self.project.name
        sdk = self.sdk
        self.image_id = str(sdk.images.get(self.project.images.app).id)

    def down(self) -> None:
        from stack.deploy.ops.down import down

        for client in self._redis.values():
            with contextlib.suppress(Exception):
                client.close()
        try:
            down(self.path, volumes=True)
        finally:
            sys.modules.pop("benchtasks", None)
            with contextlib.suppress(Exception):
                self.sdk.images.remove(f"{self.name}-app:latest", noprune=False)
            shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def sdk(self) -> Any:
        from stack.deploy.docker import client as docker_client

        return docker_client.get().sdk

    # -- addresses ------------------------------------------------------------------------

    def url(self, db: int, inside: bool = False) -> str:
        host, port = ("redis", 6379) if inside else ("127.0.0.1", self.port)
        return f"redis://:{self.password}@{host}:{port}/{db}"

    def redis(self, db: int) -> Any:
        if db not in self._redis:
            import redis

            self._redis[db] = redis.Redis.from_url(self.url(db))
        return self._redis[db]

    def control(self, db: int) -> Any:
        """A Celery app for remote control on database db (fresh, 50 ms reply polling)."""
        if db not in self._controls:
            from stack.deploy.ops.control import Control

            self._controls[db] = Control(self.project.topology, self.url(db)).app
        return self._controls[db]

    # -- extra containers -----------------------------------------------------------------

    def run(
        self, service: str, command: list[str], env: dict[str, str], restart: bool = True
    ) -> Any:
        """A container of the app image on the project network, labelled as the project's."""
        from stack.deploy.docker import labels

        name = f"{self.name}-{service}-1"
        return self.sdk.containers.run(
            self.image_id,
            command=command,
            name=name,
            hostname=name,
            environment=env,
            labels=labels.of(self.name, service, BENCH_ROLE, replica=1),
            network=self.network,
            detach=True,
            init=True,
            restart_policy={"Name": "unless-stopped"} if restart else {"Name": "no"},
        )

    def remove(self, container: Any) -> None:
        with contextlib.suppress(Exception):
            container.remove(force=True)

    def wait_ping(self, db: int, nodes: list[str], timeout: float = 60) -> None:
        app = self.control(db)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with app.connection_for_write() as conn:
                replies = app.control.ping(destination=nodes, timeout=0.5, connection=conn)
            if {n for r in replies or [] for n in r} >= set(nodes):
                return
            time.sleep(0.2)
        raise RuntimeError(f"no ping answer from {nodes}")

    # -- messages -------------------------------------------------------------------------

    def hold(self, db: int, queue: str, nodes: list[str]) -> None:
        """Stop nodes consuming queue (remote control cancel_consumer, confirmed)."""
        app = self.control(db)
        with app.connection_for_write() as conn:
            app.control.cancel_consumer(queue, destination=nodes, reply=True, connection=conn)
        # A BRPOP already waiting (kombu's 1 s timeout) still takes one more message.
        time.sleep(BRPOP_TIMEOUT)

    def template(
        self, producer: Any, db: int, task: str, args: list[Any], queue: str, nodes: list[str]
    ) -> bytes:
        """One message exactly as Celery's send_task writes it to the Redis list `queue`."""
        self.hold(db, queue, nodes)
        client = self.redis(db)
        client.delete(queue)
        producer.send_task(task, args=args, queue=queue)
        raw = client.rpop(queue)
        assert raw is not None, f"send_task wrote nothing to {queue}"
        return bytes(raw)

    def push(self, db: int, queue: str, template: bytes, count: int) -> None:
        """count copies of template, each with a fresh task id and delivery tag."""
        message = json.loads(template)
        client = self.redis(db)
        client.delete(queue)
        for start in range(0, count, PUSH_CHUNK):
            pipe = client.pipeline(transaction=False)
            batch = []
            for _ in range(min(PUSH_CHUNK, count - start)):
                task_id = str(uuid.uuid4())
                message["headers"]["id"] = message["headers"]["root_id"] = task_id
                message["properties"]["correlation_id"] = task_id
                message["properties"]["delivery_tag"] = str(uuid.uuid4())
                batch.append(json.dumps(message))
            pipe.lpush(queue, *batch)
            pipe.execute()

    def drain(
        self, db: int, queue: str, nodes: list[str], template: bytes, count: int, key: str
    ) -> float:
        """Seconds from telling the consumers to consume `queue` (holding count messages)
        until the tasks counted count executions in Redis."""
        app = self.control(db)
        self.hold(db, queue, nodes)
        counts = self.redis(2)
        counts.delete(key)
        self.push(db, queue, template, count)
        timeout = 60 + count / 50
        with app.connection_for_write() as conn:
            started = time.perf_counter()
            app.control.add_consumer(queue, destination=nodes, reply=False, connection=conn)
        while True:
            done = int(counts.get(key) or 0)
            now = time.perf_counter()
            if done >= count:
                return now - started
            if now - started > timeout:
                raise RuntimeError(f"drain of {queue}: {done}/{count} after {timeout:.0f} s")
            time.sleep(0.005)


@contextlib.contextmanager
def bench_stack(topology: dict[str, Any], prefix: str = "bench") -> Iterator[BenchStack]:
    stack = BenchStack(topology, prefix)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def b64body(message: bytes) -> Any:
    """The decoded body of a raw Redis-transport message (for checks)."""
    return json.loads(base64.b64decode(json.loads(message)["body"]))
