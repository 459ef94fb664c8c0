"""`stack build --push` to a real registry (Debian's docker-registry, the reference
distribution registry, on 127.0.0.1), pulled back by digest and run as a worker; `stack
deploy` refuses an image its registry does not hold."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.deploy.ops.control import Control
from stack.producer import configure
from stack.topology.load import load
from tests.helpers import invoke, project_copy, unavailable

pytestmark = pytest.mark.docker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry of its own on a free loopback port, its storage a temporary directory."""
    binary = shutil.which("docker-registry")
    if binary is None:
        unavailable("docker-registry is not installed (apt-get install docker-registry, or "
                    "`make setup`)")  # fmt: skip
    root = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: {address}}}\n",
        encoding="utf-8",
    )
    server = subprocess.Popen([str(binary), "serve", str(config)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the registry did not answer"
                time.sleep(0.2)
        yield address
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_build_push_pull_by_digest_then_a_worker_runs_from_it(
    registry: str, redis_url: str, docker_sdk: Any, tmp_path: Path
) -> None:
    path = project_copy(tmp_path, "topology.yaml", "t-registry")
    topology = load(path).topology
    data = json.loads(invoke("build", str(path), "--push", "--registry", f"{registry}/team",
                             "--json").stdout)  # fmt: skip
    repository, _, tag = data["reference"].rpartition(":")
    assert repository == f"{registry}/team/{topology.name}-app"
    assert len(tag) == 12
    assert data["digest"].startswith("sha256:")
    with urllib.request.urlopen(f"http://{registry}/v2/team/{topology.name}-app/tags/list") as r:
        assert tag in json.loads(r.read())["tags"]
    again = json.loads(invoke("build", str(path), "--push", "--registry", f"{registry}/team",
                              "--json").stdout)  # fmt: skip
    assert (again["reference"], again["built"]) == (data["reference"], False)  # same content

    pinned = f"{repository}@{data['digest']}"
    for name in (data["reference"], f"{topology.name}-app:latest"):
        docker_sdk.images.remove(name)
    assert not docker_sdk.images.list(name=repository)
    image = docker_sdk.images.pull(pinned)
    assert image.id == data["image"]  # the very image built, back from the registry
    group = "red"
    node = f"{group}@registry-{tag}"
    worker = docker_sdk.containers.run(
        pinned,
        ["python", "-m", "stack.container.launch", "worker", "-n", node, "-Q", "red_queue",
         "-P", "solo", "-l", "INFO"],
        environment={"STACK_BROKER_URL": redis_url, "STACK_RESULT_BACKEND": f"{redis_url}/1",
                     "STACK_GROUP": group},
        network_mode="host",  # the test's Redis is published on 127.0.0.1
        detach=True,
    )  # fmt: skip
    try:
        with Control(topology, redis_url) as control:
            deadline = time.monotonic() + 60
            while not control.ping({node}):
                assert time.monotonic() < deadline, worker.logs()[-2000:].decode()
                time.sleep(0.5)
        from celery import Celery

        app = configure(Celery("t", set_as_current=False), topology, redis_url, f"{redis_url}/1")
        try:
            assert app.send_task("tasks.red_task").get(timeout=30).startswith(node)
        finally:
            app.close()
    finally:
        with contextlib.suppress(Exception):
            worker.remove(force=True)
        with contextlib.suppress(Exception):
            docker_sdk.images.remove(pinned, force=True)


def test_deploy_refuses_an_image_its_registry_does_not_hold(
    registry: str, docker_sdk: Any, tmp_path: Path
) -> None:
    path = project_copy(tmp_path, "topology.yaml", "t-registry")
    text = path.read_text(encoding="utf-8").replace(
        "image: {context: .}", f"image: {{context: ., registry: {registry}/team}}"
    )
    assert text != path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    from typer.testing import CliRunner

    from stack.cli.main import app as cli

    result = CliRunner().invoke(cli, ["deploy", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert "the registry holds no" in result.output
    assert "stack build" in result.output
    assert "Traceback" not in result.output
    name = load(path).topology.name
    try:
        invoke("build", str(path), "--push")  # image.registry of the topology
        built = json.loads(invoke("build", str(path), "--push", "--json").stdout)
        manifest = invoke("deploy", str(path), "--dry-run").stdout
        # Pinned: the tag for people, the digest the registry answered for the nodes.
        assert f"image: {built['reference']}@{built['digest']}" in manifest
    finally:
        for image in docker_sdk.images.list(name=f"{registry}/team/{name}-app"):
            docker_sdk.images.remove(image.id, force=True)
        with contextlib.suppress(Exception):
            docker_sdk.images.remove(f"{name}-app:latest", force=True)
