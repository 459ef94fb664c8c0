"""`stack render` output run by plain `docker compose`: health, routing, canvas, Flower, secrets.

One stack for the module: examples/colors renamed to a unique project, rendered by the real
CLI, started with `docker compose up -d --wait` and always taken down with its volumes (and its
app image) at the end. Only 127.0.0.1 published ports are used from the host.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from typer.testing import CliRunner

from stack.cli.main import app as cli
from stack.container import paths
from tests.helpers import labelled_resources, project_copy, unavailable

pytestmark = pytest.mark.docker

UP_TIMEOUT = 180  # seconds, for `up --wait`; the build gets as long again
TASK_TIMEOUT = 60
PER_COLOUR = 10
SERVICES = {"redis", "red", "green", "blue", "colorful", "beat", "flower", "metrics"}
ALLOWED = {"red": ("red@", "colorful@"), "green": ("green@", "colorful@"),
           "blue": ("blue@", "colorful@")}  # fmt: skip


@dataclass(frozen=True)
class Rendered:
    """A topology rendered by `stack render --out DIR`, with its compose project name."""

    topology: Path
    out: Path
    project: str

    @property
    def compose_file(self) -> Path:
        return self.out / "compose.yaml"

    @property
    def env(self) -> dict[str, str]:
        """DIR/stack.env as a dict (KEY=VALUE lines)."""
        text = (self.out / "stack.env").read_text(encoding="utf-8")
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    @property
    def app_image(self) -> str:
        """The app image's tag as rendered: it changes with what the image is built from."""
        data = yaml.safe_load(self.compose_file.read_text(encoding="utf-8"))
        return str(data["services"]["red"]["image"])

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`docker compose` on this project only (-p pins it whatever the environment says)."""
        command = ["docker", "compose", "-p", self.project, "-f", str(self.compose_file), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def _compose_plugin() -> None:
    """Skip (fail in CI) without the `docker compose` v2 plugin."""
    try:
        result = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"no docker CLI: {exc}")
    if result.returncode != 0:
        unavailable(
            "no `docker compose` plugin (run scripts/install-docker): "
            f"{(result.stderr or result.stdout).strip()}"
        )


def _tail(text: str, lines: int = 60) -> str:
    # compose 2.26 clears lines (ESC[2K) even with --no-color / --ansi never
    return "\n".join(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).splitlines()[-lines:])


def _diagnostics(stack: Rendered) -> str:
    ps = stack.compose("ps", "--all")
    logs = stack.compose("logs", "--no-color", "--tail", "50")
    return (
        f"--- docker compose ps ---\n{ps.stdout}{ps.stderr}\n"
        f"--- docker compose logs --tail 50 ---\n{_tail(logs.stdout + logs.stderr, 500)}"
    )


def leftovers(client: Any, project: str) -> dict[str, list[str]]:
    """Every Docker resource compose still labels with the project."""
    return labelled_resources(client, f"com.docker.compose.project={project}")


def ps_rows(stack: Rendered) -> list[dict[str, Any]]:
    """`docker compose ps --format json`: one object per line (2.21+) or one array (older)."""
    result = stack.compose("ps", "--all", "--format", "json")
    assert result.returncode == 0, result.stderr
    text = result.stdout.strip()
    if text.startswith("["):
        rows: list[dict[str, Any]] = json.loads(text)
        return rows
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def published(stack: Rendered, service: str, port: int) -> int:
    """The host port `docker compose port` reports; it must be bound on 127.0.0.1."""
    result = stack.compose("port", service, str(port))
    assert result.returncode == 0, result.stderr
    host, _, host_port = result.stdout.strip().rpartition(":")
    assert host == "127.0.0.1", f"{service}:{port} published on {result.stdout.strip()!r}"
    return int(host_port)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """examples/colors under a unique name, rendered by the CLI outside the app's directory."""
    if not os.environ.get("STACK_WHEELHOUSE"):
        unavailable('STACK_WHEELHOUSE unset: run `eval "$(scripts/offline-images)"` first')
    tmp = tmp_path_factory.mktemp("tc-compose")
    topology = project_copy(tmp / "app", "topology.yaml", "tc-compose")
    out = tmp / "rendered"
    result = CliRunner().invoke(cli, ["render", str(topology), "--out", str(out)])
    assert result.exit_code == 0, f"stack render failed:\n{result.output}"
    from stack.topology.load import load

    return Rendered(topology, out, load(topology).topology.name)


@pytest.fixture(scope="module")
def running(rendered: Rendered, docker_sdk: Any) -> Iterator[Rendered]:
    """The rendered stack, built and up (`--wait`: every healthcheck passed); always down."""
    _compose_plugin()
    stack = rendered
    try:
        started = time.monotonic()
        build = stack.compose("build", timeout=UP_TIMEOUT * 2)
        built = time.monotonic()
        assert build.returncode == 0, f"docker compose build failed:\n{_tail(build.stderr)}"
        # One build of the app image, not one per service that runs it.
        images = docker_sdk.images.list(
            filters={"label": f"com.docker.compose.project={stack.project}"}
        )
        assert len(images) == 1, [i.tags for i in images]
        up = stack.compose(
            "up", "-d", "--wait", "--wait-timeout", str(UP_TIMEOUT), timeout=UP_TIMEOUT + 60
        )
        ended = time.monotonic()
        if up.returncode != 0:
            pytest.fail(
                f"docker compose up --wait failed ({ended - built:.1f} s):\n"
                f"{_tail(up.stderr)}\n{_diagnostics(stack)}",
                pytrace=False,
            )
        print(
            f"docker compose ({stack.project}): build {built - started:.1f} s, "
            f"up -d --wait {ended - built:.1f} s, total {ended - started:.1f} s"
        )
        yield stack
    finally:
        down = stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")
        # Only the image this module built: its tag carries the unique project name.
        subprocess.run(["docker", "image", "rm", stack.app_image], capture_output=True, timeout=60)
    # Reached only when setup and the tests went through: no error to mask.
    assert down.returncode == 0, f"docker compose down failed:\n{_tail(down.stderr)}"
    empty: dict[str, list[str]] = {"containers": [], "networks": [], "volumes": []}
    assert leftovers(docker_sdk, stack.project) == empty


@pytest.fixture
def producer(running: Rendered) -> Iterator[Any]:
    """A Celery app configured from the topology, on the published 127.0.0.1 Redis port."""
    from celery import Celery

    from stack.producer import configure
    from stack.topology.load import load

    port = published(running, "redis", 6379)
    password = quote(running.env["REDIS_PASSWORD"], safe="")
    base = f"redis://:{password}@127.0.0.1:{port}"
    app = Celery("tc-compose-producer", set_as_current=False)
    configure(app, load(running.topology).topology, f"{base}/0", f"{base}/1")
    try:
        yield app
    finally:
        app.close()


def http_status(port: int, path: str, auth: str | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_every_service_is_running_and_healthy(running: Rendered) -> None:
    rows = ps_rows(running)
    services = {row["Service"] for row in rows}
    assert services == SERVICES
    for row in rows:
        assert row["Project"] == running.project, row
        assert (row["State"], row["Health"]) == ("running", "healthy"), row


def test_tasks_run_on_their_groups_and_chain_crosses_queues(
    running: Rendered, producer: Any
) -> None:
    from celery import chain

    # Node names are GROUP@HOSTNAME, and a compose container's hostname is its short id.
    containers = {row["ID"][:12] for row in ps_rows(running)}
    sent = {c: [producer.send_task(f"tasks.{c}_task") for _ in range(PER_COLOUR)] for c in ALLOWED}
    for colour, results in sent.items():
        nodes = [str(r.get(timeout=TASK_TIMEOUT)) for r in results]
        assert len(nodes) == PER_COLOUR
        wrong = [n for n in nodes if not n.startswith(ALLOWED[colour])]
        assert not wrong, f"{colour} tasks ran on {wrong}"
        strangers = [n for n in nodes if n.partition("@")[2] not in containers]
        assert not strangers, f"{colour} tasks ran outside {running.project}: {strangers}"
    chained = chain(
        producer.signature("tasks.add", (2, 3)), producer.signature("tasks.multiply", (10,))
    )
    assert chained.apply_async().get(timeout=TASK_TIMEOUT) == 50


def test_flower_requires_basic_auth(running: Rendered) -> None:
    port = published(running, "flower", 5555)
    auth = running.env["FLOWER_BASIC_AUTH"]
    user, _, password = auth.partition(":")
    assert user
    assert password
    assert http_status(port, "/") == 401
    assert http_status(port, "/", f"{user}:not-{password}") == 401
    assert http_status(port, "/", auth) == 200
    assert http_status(port, "/metrics") == 401  # Flower itself leaves it open
    assert http_status(port, "/metrics", auth) == 200
    assert http_status(port, "/healthcheck") == 200  # the probes' path needs none


def test_rendered_files_hold_no_secret(rendered: Rendered) -> None:
    env = rendered.env
    assert set(env) >= {"STACK_BROKER_URL", "REDIS_PASSWORD", "FLOWER_BASIC_AUTH"}
    assert (rendered.out / "stack.env").stat().st_mode & 0o777 == 0o600
    secrets = {*env.values(), env["REDIS_PASSWORD"], env["FLOWER_BASIC_AUTH"].partition(":")[2]}
    compose_text = rendered.compose_file.read_text(encoding="utf-8")
    assert "stack.env" in compose_text  # the containers get them through env_file only
    leaks = [s for s in secrets if s in compose_text]
    assert not leaks, f"{len(leaks)} secret value(s) of stack.env in compose.yaml"
    # Nor in the image's build context (it would bake them into every layer).
    build_files = [p for p in (rendered.out / "build").rglob("*") if p.is_file()]
    leaked_files = [
        str(p.relative_to(rendered.out))
        for p in build_files
        if any(s.encode() in p.read_bytes() for s in secrets)
    ]
    assert not leaked_files, f"secrets in the build context: {leaked_files}"


def test_an_edit_rendered_again_is_built_and_run_by_compose_up(
    running: Rendered, docker_sdk: Any
) -> None:
    """`docker compose up` builds only images it lacks: the rendered tag must change with
    the topology, or the containers would keep running the old one."""
    before = running.app_image
    text = running.topology.read_text(encoding="utf-8")
    edited = text.replace("every: 2}", "every: 3}")
    assert edited != text
    running.topology.write_text(edited, encoding="utf-8")
    result = CliRunner().invoke(cli, ["render", str(running.topology), "--out", str(running.out)])
    assert result.exit_code == 0, result.output
    assert running.app_image != before
    up = running.compose(
        "up", "-d", "--wait", "--wait-timeout", str(UP_TIMEOUT), timeout=UP_TIMEOUT * 2 + 60
    )
    assert up.returncode == 0, f"{_tail(up.stderr)}\n{_diagnostics(running)}"
    beat = docker_sdk.containers.get(f"{running.project}-beat-1")
    assert "every: 3}" in beat.exec_run(["cat", paths.TOPOLOGY]).output.decode()
    docker_sdk.images.remove(before)  # no container runs it any more
