"""Workers and beat share one network namespace (stack/deploy/docker/netns.py): the specs and the
rule that finds containers left in a dead namespace."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from stack.deploy import services as plan
from stack.deploy.docker import netns
from stack.deploy.docker.spec import container_specs
from stack.deploy.secrets import Secrets
from stack.topology.load import load

COLOURS = "examples/colors/topology.yaml"
SECRETS = Secrets("b" * 32, "f" * 32)


@dataclass
class FakeContainer:
    name: str
    status: str = "running"
    attrs: dict[str, Any] = field(default_factory=dict)


def started(name: str, at: str, mode: str = "container:abc", status: str = "running") -> Any:
    return FakeContainer(
        name, status, {"State": {"StartedAt": at}, "HostConfig": {"NetworkMode": mode}}
    )


def test_workers_and_beat_join_the_holder_flower_and_the_broker_do_not() -> None:
    topology = load(COLOURS).topology
    services = plan.services(topology, plan.images(topology))
    joining = {s.name for s in services if netns.joins(s)}
    assert joining == {"red", "green", "blue", "colorful", "beat"}


def test_a_joined_replica_has_its_node_name_from_its_container_name() -> None:
    topology = load(COLOURS).topology
    red = next(s for s in plan.services(topology, plan.images(topology)) if s.name == "red")
    own, joined = (
        container_specs(replace(red, replicas=2), topology, SECRETS, "sha256:x", join=join)[1]
        for join in (None, netns.holder_name(topology.name))
    )
    assert "red@%h" in own.run_command  # its own hostname is its container name
    assert own.aliases == ("red",)
    assert f"red@{topology.name}-red-2" in joined.run_command
    assert "red@%h" in joined.command  # the hash keeps the template
    assert joined.aliases == ()
    assert joined.config_hash != own.config_hash  # joining recreates the container


def test_containers_started_before_the_holder_last_started_are_stale() -> None:
    holder = started("p-netns-1", "2026-12-01T10:00:05.123456789Z", mode="p")
    containers = [
        started("p-red-1", "2026-12-01T10:00:04.999999999Z"),  # joined the earlier run
        started("p-red-2", "2026-12-01T10:00:05.500000000Z"),  # joined this one
        started("p-green-1", "0001-01-01T00:00:00Z", status="created"),  # never started
        started("p-flower-1", "2026-12-01T09:00:00Z", mode="p"),  # its own namespace
    ]
    assert netns.stale(holder, containers) == {"p-red-1"}


def test_without_a_running_holder_every_joined_container_is_stale() -> None:
    containers = [started("p-red-1", "2026-12-01T10:00:04Z"), started("p-f-1", "x", mode="p")]
    assert netns.stale(None, containers) == {"p-red-1"}
    stopped = started("p-netns-1", "2026-12-01T10:00:00Z", mode="p", status="exited")
    assert netns.stale(stopped, containers) == {"p-red-1"}
