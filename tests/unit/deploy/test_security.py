"""Secure by default: passwords always set, Flower behind auth, 127.0.0.1, no leaked secret."""

from __future__ import annotations

import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery

from stack.deploy import secrets
from stack.deploy import services as plan
from stack.deploy.render import compose
from stack.errors import StackError
from stack.producer import configure
from stack.settings.guards import delay_seconds
from stack.topology import yamlio
from stack.topology.load import load, load_string
from tests.helpers import COLORS

DEMOS = [COLORS / "topology.yaml", COLORS / "topology-rabbitmq.yaml"]


@pytest.mark.parametrize("path", DEMOS, ids=["redis", "rabbitmq"])
def test_broker_and_flower_always_get_passwords(path: Path, tmp_path: Path) -> None:
    topology = load(path).topology
    values = secrets.ensure(tmp_path, topology)
    env = secrets.container_env(topology, values)
    if topology.broker.type == "redis":
        assert env["REDIS_PASSWORD"] == values.broker_password
        [redis] = [
            s for s in plan.services(topology, plan.images(topology, {})) if s.name == "redis"
        ]
        assert '--requirepass "$REDIS_PASSWORD"' in redis.command[-1]
    else:
        assert env["RABBITMQ_DEFAULT_PASS"] == values.broker_password
        assert env["STACK_BROKER_URL"].startswith(f"amqp://stack:{values.broker_password}@")
    assert env["FLOWER_BASIC_AUTH"] == f"admin:{values.flower_password}"
    assert len(values.broker_password) >= 24
    assert values.broker_password != values.flower_password


def test_every_compose_service_gets_the_env_file() -> None:
    topology = load(DEMOS[0]).topology
    rendered = compose.render(topology, plan.images(topology, {}))
    for name, service in rendered["services"].items():
        assert service["env_file"] == ["stack.env"], name


def test_secrets_file_is_private_and_stable(tmp_path: Path) -> None:
    topology = load(DEMOS[0]).topology
    first = secrets.ensure(tmp_path, topology)
    path = secrets.secrets_path(tmp_path, topology)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (path.parent / ".gitignore").read_text().strip().endswith("*")
    assert secrets.ensure(tmp_path, topology) == first


def test_empty_password_in_secrets_file_is_refused(tmp_path: Path) -> None:
    topology = load(DEMOS[0]).topology
    path = secrets.secrets_path(tmp_path, topology)
    secrets.write_private(path, "BROKER_PASSWORD=\nFLOWER_PASSWORD=abcdefghijklmnopqrstuvwxyz\n")
    with pytest.raises(StackError, match="BROKER_PASSWORD is missing or shorter than 16"):
        secrets.ensure(tmp_path, topology)


def test_write_private_tightens_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "x.env"
    target.write_text("old")
    target.chmod(0o644)
    secrets.write_private(target, "A=1\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "A=1\n"


@pytest.mark.parametrize("path", DEMOS, ids=["redis", "rabbitmq"])
def test_published_ports_bind_loopback_by_default(path: Path) -> None:
    topology = load(path).topology
    for service in compose.render(topology, plan.images(topology, {}))["services"].values():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1"


def test_no_secret_in_the_rendered_compose(tmp_path: Path) -> None:
    topology = load(DEMOS[0]).topology
    values = secrets.ensure(tmp_path, topology)
    text = yamlio.dump(compose.render(topology, plan.images(topology, {})))
    assert values.broker_password not in text
    assert values.flower_password not in text
    assert "FLOWER_BASIC_AUTH" not in text


def test_eta_guard_warns_beyond_visibility_timeout(caplog: pytest.LogCaptureFixture) -> None:
    text = (
        (COLORS / "topology.yaml")
        .read_text()
        .replace("broker: redis", "broker: {type: redis, visibility_timeout: 60}")
    )
    topology = load_string(text).topology
    app = configure(Celery("t", set_as_current=False), topology, "memory://", None)
    with caplog.at_level(logging.WARNING, logger="stack.settings.guards"):
        app.send_task("tasks.red_task", countdown=30)
        assert not [r for r in caplog.records if r.name == "stack.settings.guards"]
        app.send_task("tasks.red_task", countdown=600)
    [record] = [r for r in caplog.records if r.name == "stack.settings.guards"]
    assert "beyond the Redis visibility_timeout (60 s)" in record.getMessage()


def test_guard_is_per_app(caplog: pytest.LogCaptureFixture) -> None:
    """A stricter topology configured in the same process must not warn for another app."""
    strict = (
        (COLORS / "topology.yaml")
        .read_text()
        .replace("broker: redis", "broker: {type: redis, visibility_timeout: 5}")
    )
    configure(Celery("a", set_as_current=False), load_string(strict).topology, "memory://", None)
    relaxed = configure(
        Celery("b", set_as_current=False), load(DEMOS[0]).topology, "memory://", None
    )
    with caplog.at_level(logging.WARNING, logger="stack.settings.guards"):
        relaxed.send_task("tasks.red_task", countdown=30)
    assert not [r for r in caplog.records if r.name == "stack.settings.guards"]


def test_delay_seconds_from_countdown_or_eta() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert delay_seconds(None, None, now) is None
    assert delay_seconds(12, None, now) == 12.0
    later = now + timedelta(seconds=90)
    assert delay_seconds(None, later.isoformat(), now) == 90.0
    assert delay_seconds(None, later, now) == 90.0
