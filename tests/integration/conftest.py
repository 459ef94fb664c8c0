"""Real stacks on the local Docker engine: skipped without one, except in CI (CI=true)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import HINT, IMAGE_VARS, forget_app, project_copy, unavailable


@pytest.fixture(scope="session")
def docker_sdk() -> Any:
    """The Docker SDK client, once the engine answers and the offline images exist."""
    import docker
    import docker.errors
    import requests.exceptions

    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        unavailable(f"no Docker engine answers: {exc}")
    missing = [name for name in IMAGE_VARS if not os.environ.get(name)]
    if missing:
        unavailable(f"{', '.join(missing)} unset: {HINT}")
    for name in IMAGE_VARS:
        try:
            client.images.get(os.environ[name])
        except docker.errors.ImageNotFound:
            unavailable(f"image {os.environ[name]} ({name}) is not present: {HINT}")
    return client


@pytest.fixture(scope="class")
def stack_factory(
    docker_sdk: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str, Callable[[Path], None] | None], Path]]:
    """Start stacks (default: `stack.deploy.ops.up.up`); every one is taken down at the end."""
    from stack.deploy.ops.down import down
    from stack.topology.load import load

    started: list[Path] = []

    def start(source: str, prefix: str, runner: Callable[[Path], None] | None = None) -> Path:
        from stack.deploy.ops.up import up

        path = project_copy(tmp_path_factory.mktemp(prefix), source, prefix)
        started.append(path)
        forget_app([p.parent for p in started])
        if runner is None:
            up(path, timeout=150)
        else:
            runner(path)
        return path

    yield start
    for path in started:
        try:
            down(path, volumes=True)
        finally:
            forget_app([path.parent])
            name = load(path).topology.name
            for tag in (f"{name}-app:latest",):
                # Already gone, or a failed up never built it.
                with contextlib.suppress(Exception):
                    docker_sdk.images.remove(tag, noprune=False)


def _loopback(container: Any, port: int) -> Any:
    # testcontainers' with_bind_ports cannot name a host address; the SDK's form can.
    container.ports[f"{port}/tcp"] = ("127.0.0.1", None)
    return container


@pytest.fixture(scope="module")
def redis_url(docker_sdk: Any) -> Iterator[str]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    password = secrets.token_urlsafe(16)
    container = _loopback(
        DockerContainer(os.environ["STACK_REDIS_IMAGE"])
        .with_command(f"redis-server --requirepass {password}")
        .waiting_for(LogMessageWaitStrategy("Ready to accept connections")),
        6379,
    )
    with container:
        port = container.get_exposed_port(6379)
        yield f"redis://:{password}@127.0.0.1:{port}"


@pytest.fixture(scope="module")
def rabbitmq_url(docker_sdk: Any) -> Iterator[str]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    password = secrets.token_urlsafe(16)
    container = _loopback(
        DockerContainer(os.environ["STACK_RABBITMQ_IMAGE"])
        .with_env("RABBITMQ_DEFAULT_USER", "stack")
        .with_env("RABBITMQ_DEFAULT_PASS", password)
        .with_kwargs(hostname="rabbit")
        .waiting_for(LogMessageWaitStrategy("Server startup complete").with_startup_timeout(120)),
        5672,
    )
    with container:
        port = container.get_exposed_port(5672)
        yield f"amqp://stack:{password}@127.0.0.1:{port}//"
