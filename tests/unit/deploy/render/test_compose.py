"""The rendered compose file: golden, schema-valid, and right where it matters."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.deploy import services as plan
from stack.deploy.render import compose
from stack.topology import yamlio
from stack.topology.load import load, load_string
from tests.helpers import COLORS, ROOT

DEMOS = {
    "colors": COLORS / "topology.yaml",
    "colors-rabbitmq": COLORS / "topology-rabbitmq.yaml",
}
GOLDEN = ROOT / "compose" / "demo"


def rendered(path: Path) -> dict[str, Any]:
    topology = load(path).topology
    return compose.render(topology, plan.images(topology, env={}))


@pytest.mark.parametrize("demo", sorted(DEMOS))
def test_rendered_compose_matches_the_golden_file(demo: str) -> None:
    text = yamlio.dump(rendered(DEMOS[demo]))
    golden = GOLDEN / demo / "compose.yaml"
    if os.environ.get("STACK_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), (
        "rendered compose changed; review and rerun with STACK_UPDATE_GOLDEN=1"
    )


@pytest.mark.parametrize("demo", sorted(DEMOS))
def test_one_service_builds_the_app_image(demo: str) -> None:
    """Compose would build the image once per service with a `build:` of its own."""
    services = rendered(DEMOS[demo])["services"]
    apps = {n: s for n, s in services.items() if s["image"] == services["red"]["image"]}
    assert set(apps) == {"red", "green", "blue", "colorful", "beat", "flower", "metrics"}
    builders = [n for n, s in apps.items() if "build" in s]
    assert builders == ["red"]
    assert all(s["pull_policy"] == "never" for n, s in apps.items() if n != "red")


def check_compose_schema(data: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with its bundled copy of the Compose Specification schema."""
    target = tmp_path / "compose.yaml"
    target.write_text(yamlio.dump(data), encoding="utf-8")
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    return subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("demo", sorted(DEMOS))
def test_valid_against_compose_spec(demo: str, tmp_path: Path) -> None:
    result = check_compose_schema(rendered(DEMOS[demo]), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    bad = rendered(DEMOS["colors"])
    bad["services"]["red"]["comand"] = ["typo"]
    assert check_compose_schema(bad, tmp_path).returncode == 1


def test_workers_consume_their_queues_as_unique_nodes_once_redis_is_healthy() -> None:
    services = rendered(DEMOS["colors"])["services"]
    for group, queues in {
        "red": "red_queue",
        "green": "green_queue",
        "blue": "blue_queue",
        "colorful": "red_queue,green_queue,blue_queue",
    }.items():
        command = services[group]["command"]
        assert command[command.index("-Q") + 1] == queues
        # %h is the container's hostname, unique per replica.
        assert command[command.index("-n") + 1] == f"{group}@%h"
        assert services[group]["deploy"] == {"replicas": 1}
        assert services[group]["depends_on"] == {"redis": {"condition": "service_healthy"}}
        assert services[group]["healthcheck"]["test"][0] == "CMD-SHELL"


def test_one_beat_and_flower_behind_auth_on_loopback() -> None:
    services = rendered(DEMOS["colors"])["services"]
    assert "deploy" not in services["beat"]  # one instance, never replicated
    assert services["beat"]["command"][3] == "beat"
    assert services["flower"]["env_file"] == ["stack.env"]
    assert services["flower"]["ports"] == [
        {"target": 5555, "host_ip": "127.0.0.1", "protocol": "tcp"}
    ]


def test_no_secret_and_no_unescaped_dollar_in_compose() -> None:
    text = yamlio.dump(rendered(DEMOS["colors"]))
    for key in ('requirepass "$$REDIS_PASSWORD"',):
        assert key in text
    data = yaml.safe_load(text)
    for service in data["services"].values():
        env = service.get("environment", {})
        assert not set(env) & set(plan.SECRET_KEYS)
        for part in service["command"]:
            assert "$" not in part.replace("$$", "")


def test_rabbitmq_broker_with_redis_backend_workers_wait_for_both() -> None:
    services = rendered(DEMOS["colors-rabbitmq"])["services"]
    assert services["rabbitmq"]["hostname"] == "rabbitmq"
    assert services["rabbitmq"]["volumes"] == ["rabbitmq-data:/var/lib/rabbitmq/mnesia"]
    assert services["redis"]["labels"]["io.stack.role"] == "backend"
    assert services["red"]["depends_on"] == {
        "rabbitmq": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


@pytest.mark.parametrize("path", DEMOS.values(), ids=["redis", "rabbitmq"])
def test_published_ports_bind_loopback_by_default(path: Path) -> None:
    topology = load(path).topology
    for service in compose.render(topology, plan.images(topology, {}))["services"].values():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1"


def test_ports_follow_bind_and_fixed_ports() -> None:
    text = (COLORS / "topology.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "monitor: {flower: true}", "monitor: {flower: true, port: 5599}\nbind: 0.0.0.0"
    )
    topology = load_string(text).topology
    services = compose.render(topology, plan.images(topology, env={}))["services"]
    assert services["flower"]["ports"] == [
        {"target": 5555, "host_ip": "0.0.0.0", "protocol": "tcp", "published": "5599"}
    ]


def test_external_broker_and_no_backend_run_no_broker_or_backend_service() -> None:
    text = (COLORS / "topology.yaml").read_text(encoding="utf-8")
    text = text.replace("broker: redis", "broker: 'amqp://u:p@mq.example:5672//'")
    text = text.replace("backend: redis", "backend: none")
    topology = load_string(text).topology
    services = compose.render(topology, plan.images(topology, env={}))["services"]
    assert "redis" not in services
    assert "rabbitmq" not in services
    assert "depends_on" not in services["red"]


def test_image_overrides_from_environment() -> None:
    topology = load(DEMOS["colors"]).topology
    imgs = plan.images(topology, env={"STACK_REDIS_IMAGE": "mirror/redis:7"})
    assert compose.render(topology, imgs)["services"]["redis"]["image"] == "mirror/redis:7"


def test_render_command_writes_files_with_private_env(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stack.cli.main import app

    work = tmp_path / "colors"
    shutil.copytree(COLORS, work, ignore=shutil.ignore_patterns(".stack", "__pycache__"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["render", str(work / "topology.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    env_file = out / "stack.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    secrets_file = work / ".stack" / "colors.secrets"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    password = dict(line.split("=", 1) for line in env_file.read_text().splitlines())[
        "REDIS_PASSWORD"
    ]
    assert len(password) >= 24
    assert password not in (out / "compose.yaml").read_text()
    assert password not in result.output
    assert (out / "build" / "Dockerfile").is_file()
    assert (out / "build" / "app" / "tasks.py").is_file()
    assert not (out / "build" / "app" / ".stack").exists()
    # A second render keeps the same secrets.
    CliRunner().invoke(app, ["render", str(work / "topology.yaml"), "--out", str(out)])
    assert password in env_file.read_text()


def test_rendered_app_tag_follows_what_the_image_is_built_from(tmp_path: Path) -> None:
    """`docker compose up` builds only an image it does not have: an unchanged context keeps
    its tag (nothing rebuilt, nothing recreated), any edit gets a new one."""
    from stack.deploy.render.write import write_all

    app = tmp_path / "colors"
    shutil.copytree(COLORS, app, ignore=shutil.ignore_patterns(".stack", "__pycache__"))
    topology = app / "topology.yaml"

    def tag() -> str:
        write_all(load(topology), tmp_path / "out", None)
        data = yaml.safe_load((tmp_path / "out" / "compose.yaml").read_text(encoding="utf-8"))
        images = {s["image"] for n, s in data["services"].items() if n != "redis"}
        assert len(images) == 1
        return images.pop()

    first = tag()
    assert first.startswith("colors-app:")
    assert first != "colors-app:latest"
    assert tag() == first
    topology.write_text(topology.read_text(encoding="utf-8").replace("every: 2}", "every: 3}"))
    second = tag()
    assert second != first
    (app / "tasks.py").write_text((app / "tasks.py").read_text() + "\n# edited\n")
    assert tag() not in (first, second)
    text = topology.read_text(encoding="utf-8")
    named = text.replace("image: {context: .}", "image: {context: ., name: 'mine:1'}")
    assert named != text
    topology.write_text(named, encoding="utf-8")
    assert tag() == "mine:1"
