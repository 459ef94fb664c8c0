"""How `stack up` waits for services to be ready: the window each ping gets, and probes
chosen by a service's role (a server's by the type the topology gives that role), never by
its name."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from stack.deploy import services as plan
from stack.deploy.ops.project import Project
from stack.deploy.ops.ready import Readiness
from stack.deploy.secrets import Secrets
from stack.topology.load import load, load_string
from tests.helpers import COLORS


def test_ping_window_starts_short_and_widens_while_nobody_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reply that comes after its ping's window is lost: a window that never grew would
    wait forever on a loaded host or a distant broker."""
    from types import SimpleNamespace

    from stack.deploy.ops import ready

    clock = [100.0]
    monkeypatch.setattr(ready.time, "monotonic", lambda: clock[0])
    project = SimpleNamespace(topology=load(COLORS / "topology.yaml").topology)
    readiness = ready.Readiness(docker=None, project=project, console=None)  # type: ignore[arg-type]
    assert readiness._ping_window() == pytest.approx(ready.PING_TIMEOUT)
    clock[0] += 4.0  # seconds of booting workers: still snappy
    assert readiness._ping_window() == pytest.approx(ready.PING_TIMEOUT)
    clock[0] += 10.0
    assert 0.3 < readiness._ping_window() < ready.PING_WINDOW_MAX
    clock[0] += 600.0
    assert readiness._ping_window() == ready.PING_WINDOW_MAX


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
