"""The stack's secrets (stack.deploy.secrets): broker and Flower passwords always set, kept in a
private file that stays the same, and given to containers by the env file only, never in
the rendered compose."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from stack.deploy import secrets
from stack.deploy import services as plan
from stack.deploy.render import compose
from stack.errors import StackError
from stack.topology import yamlio
from stack.topology.load import load
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


def test_no_secret_in_the_rendered_compose(tmp_path: Path) -> None:
    topology = load(DEMOS[0]).topology
    values = secrets.ensure(tmp_path, topology)
    text = yamlio.dump(compose.render(topology, plan.images(topology, {})))
    assert values.broker_password not in text
    assert values.flower_password not in text
    assert "FLOWER_BASIC_AUTH" not in text
