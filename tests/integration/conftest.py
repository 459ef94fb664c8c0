"""Real stacks on the local Docker engine: skipped without one, except in CI (CI=true)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COLORS = ROOT / "examples" / "colors"
IMAGE_VARS = ("STACK_PYTHON_IMAGE", "STACK_REDIS_IMAGE", "STACK_RABBITMQ_IMAGE")
HINT = 'run `eval "$(scripts/offline-images)"` first (or `make integration`)'


def _unavailable(reason: str) -> None:
    """No engine or images: a skip on a developer machine, a failure in CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: integration tests must run)", pytrace=False)
    pytest.skip(reason)


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
        _unavailable(f"no Docker engine answers: {exc}")
    missing = [name for name in IMAGE_VARS if not os.environ.get(name)]
    if missing:
        _unavailable(f"{', '.join(missing)} unset: {HINT}")
    for name in IMAGE_VARS:
        try:
            client.images.get(os.environ[name])
        except docker.errors.ImageNotFound:
            _unavailable(f"image {os.environ[name]} ({name}) is not present: {HINT}")
    return client


def labelled_resources(client: Any, label: str) -> dict[str, list[str]]:
    """Every container, network and volume that still carries label (key=value)."""
    filters = {"label": label}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=filters)],
        "networks": [n.name for n in client.networks.list(filters=filters)],
        "volumes": [v.name for v in client.volumes.list(filters=filters)],
    }


def project_copy(tmp: Path, source: str, prefix: str) -> Path:
    """examples/colors copied to tmp, the topology renamed to a unique project name."""
    shutil.copytree(COLORS, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".stack"))
    name = f"{prefix}-{secrets.token_hex(3)}"
    text = (COLORS / source).read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^name: .*$", f"name: {name}", text)
    assert count == 1, f"{source} has no top-level name:"
    path = tmp / "topology.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def forget_app(base_dirs: list[Path]) -> None:
    """Each stack imports its own copy of examples/colors/tasks.py: drop the last one."""
    sys.modules.pop("tasks", None)
    dirs = {str(d.resolve()) for d in base_dirs}
    sys.path[:] = [p for p in sys.path if p not in dirs]


@pytest.fixture(scope="class")
def stack_factory(
    docker_sdk: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str, Callable[[Path], None] | None], Path]]:
    """Start stacks (default: `stack.runtime.up.up`); every one is taken down at the end."""
    from stack.load import load
    from stack.runtime.down import down

    started: list[Path] = []

    def start(source: str, prefix: str, runner: Callable[[Path], None] | None = None) -> Path:
        from stack.runtime.up import up

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
