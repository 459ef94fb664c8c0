"""Readiness probes are chosen by a service's role (a server's by the type the topology gives
that role), never by its name."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from stack.deploy import services as plan
from stack.deploy.ops.project import Project
from stack.deploy.ops.ready import Readiness
from stack.deploy.secrets import Secrets
from stack.topology.load import load_string
from tests.helpers import COLORS


def readiness(source: str) -> tuple[Readiness, list[plan.Service], list[str]]:
    """A Readiness whose probes record their name instead of reaching a container."""
    loaded = load_string((COLORS / source).read_text(encoding="utf-8"), source)
    imgs = plan.images(loaded.topology, env={})
    services = plan.services(loaded.topology, imgs)
    project = Project(loaded, Secrets("b" * 24, "f" * 24), imgs, services)
    probes = Readiness(docker=None, project=project, console=None)  # type: ignore[arg-type]
    calls: list[str] = []
    for name in ("redis", "rabbitmq", "flower", "beat"):

        def probe(_container: Any, name: str = name) -> bool:
            calls.append(name)
            return True

        setattr(probes, f"_{name}", probe)
    return probes, services, calls


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("topology.yaml", {"redis": "redis", "beat": "beat", "flower": "flower"}),
        (
            "topology-rabbitmq.yaml",
            {"redis": "redis", "rabbitmq": "rabbitmq", "beat": "beat", "flower": "flower"},
        ),
    ],
)
def test_a_renamed_service_keeps_the_probe_of_its_role(
    source: str, expected: dict[str, str]
) -> None:
    probes, services, calls = readiness(source)
    chosen = {}
    for service in services:
        if service.name in expected:
            calls.clear()
            assert probes.check(dataclasses.replace(service, name=f"x{service.name}"), None)  # type: ignore[arg-type]
            (chosen[service.name],) = calls
    assert chosen == expected
