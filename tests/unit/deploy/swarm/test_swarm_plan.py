"""The plan's services as Swarm service specs: secrets out of the spec, roll-out order,
one broker and beat on the manager, ports, what a redeploy changes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from stack.deploy import services as plan
from stack.deploy.swarm import plan as swarm
from stack.errors import StackError
from stack.topology.load import load
from stack.topology.model import Topology
from tests.helpers import COLORS

TOPOLOGY = load(COLORS / "topology.yaml").topology.model_copy(update={"bind": "0.0.0.0"})
IMGS = replace(plan.images(TOPOLOGY, env={}), app="reg:5000/lab/colors-app:0123456789ab")


def specs(topology: Topology = TOPOLOGY) -> dict[str, dict[str, Any]]:
    services = plan.services(topology, IMGS)
    out = swarm.specs("colors", services, secret_id="sid", secret="colors_env_x", network_id="net")
    return {s["Name"]: s for s in out}


def by_service(name: str) -> dict[str, Any]:
    return next(s for s in specs().values() if s["Name"] == f"colors_{name}")


def test_secrets_come_from_the_docker_secret_never_from_the_spec() -> None:
    import json

    text = json.dumps(list(specs().values()))
    assert "PASSWORD" not in text.replace("$REDIS_PASSWORD", "")
    red = by_service("red")["TaskTemplate"]["ContainerSpec"]
    assert red["Args"][:4] == ["sh", "-c", swarm.PRELUDE, swarm.SECRET_FILE]
    assert red["Args"][4:] == list(plan.worker_command("red", TOPOLOGY.workers["red"], TOPOLOGY))
    assert red["Secrets"][0]["SecretID"] == "sid"
    probe = by_service("redis")["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"]
    assert probe[0] == "CMD-SHELL"
    assert probe[1].startswith(f"set -a; . /run/secrets/{swarm.SECRET_FILE}; set +a; ")
    assert swarm.env_file({"A": "x y", "B": "it's"}) == "A='x y'\nB='it'\"'\"'s'\n"


def test_workers_roll_start_first_and_the_broker_and_beat_stay_single_on_the_manager() -> None:
    red, redis, beat = by_service("red"), by_service("redis"), by_service("beat")
    assert red["UpdateConfig"]["Order"] == "start-first"
    assert "Placement" not in red["TaskTemplate"]
    for single in (redis, beat):
        assert single["UpdateConfig"]["Order"] == "stop-first"
        assert single["Mode"] == {"Replicated": {"Replicas": 1}}
        assert single["TaskTemplate"]["Placement"] == {"Constraints": ["node.role == manager"]}
    grace = TOPOLOGY.workers["red"].effective_grace_period
    assert red["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == grace * swarm.NANO
    assert redis["TaskTemplate"]["Networks"] == [{"Target": "net", "Aliases": ["redis"]}]
    [mount] = redis["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert (mount["Source"], mount["Target"]) == ("colors_redis-data", "/data")
    # `stack down --volumes` finds the volumes by this label on the manager
    assert mount["VolumeOptions"]["Labels"]["io.stack.project"] == "colors"
    flower = by_service("flower")  # holds a host-mode port: the old task goes first
    assert flower["UpdateConfig"]["Order"] == "stop-first"


def test_ports_are_published_on_the_node_of_the_task_at_a_stable_port() -> None:
    redis = by_service("redis")["EndpointSpec"]
    assert redis["Mode"] == "dnsrr"
    [port] = redis["Ports"]
    assert port["TargetPort"] == 6379
    assert port["PublishMode"] == "host"
    assert port["PublishedPort"] == swarm.published_port("colors", "redis", 6379)
    assert 20000 <= port["PublishedPort"] < 30000
    assert by_service("redis") == by_service("redis")  # the same on every deploy
    fixed = TOPOLOGY.model_copy(
        update={"broker": TOPOLOGY.broker.model_copy(update={"port": 16379})}
    )
    redis_fixed = next(s for s in specs(fixed).values() if s["Name"] == "colors_redis")
    assert redis_fixed["EndpointSpec"]["Ports"][0]["PublishedPort"] == 16379
    assert "Ports" not in by_service("red")["EndpointSpec"]


def test_a_loopback_bind_is_refused_for_swarm() -> None:
    with pytest.raises(StackError, match=r"bind: 0\.0\.0\.0"):
        swarm.check_bind(load(COLORS / "topology.yaml").topology)
    swarm.check_bind(TOPOLOGY)


def test_a_redeploy_creates_updates_and_removes_by_spec_hash() -> None:
    wanted = list(specs().values())
    current = {w["Name"]: w["Labels"][swarm.SPEC_HASH] for w in wanted}
    assert swarm.changes(wanted, current) == ([], [], [])
    edited = TOPOLOGY.model_copy(
        update={"workers": {**TOPOLOGY.workers,
                            "blue": TOPOLOGY.workers["blue"].model_copy(update={"replicas": 2})}}
    )  # fmt: skip
    after = list(specs(edited).values())
    create, update, remove = swarm.changes(after, {**current, "colors_old": "x"})
    assert (create, update, remove) == ([], ["colors_blue"], ["colors_old"])
    assert swarm.changes(after, {})[0] == sorted(w["Name"] for w in after)


def test_single_services_are_pinned_to_their_home_node_and_keep_it() -> None:
    services = plan.services(TOPOLOGY, IMGS)
    singles = swarm.singles("colors", services)
    assert sorted(singles) == ["colors_beat", "colors_redis"]
    # First deploy: the manager deploying; later ones: where the existing spec pins it.
    first = swarm.homes(singles, {}, manager="m1")
    assert first == {"colors_beat": "m1", "colors_redis": "m1"}
    pinned = swarm.specs("colors", services, secret_id="sid", secret="s", network_id="net",
                         home_nodes=first)  # fmt: skip
    by_name = {s["Name"]: s for s in pinned}
    assert by_name["colors_redis"]["TaskTemplate"]["Placement"] == {
        "Constraints": ["node.id == m1"]
    }
    assert "Placement" not in by_name["colors_red"]["TaskTemplate"]
    again = swarm.homes(singles, {"colors_redis": by_name["colors_redis"]}, manager="m2")
    assert again == {"colors_redis": "m1", "colors_beat": "m2"}
    assert swarm.home({}) is None
    assert swarm.home(by_service("redis")) is None  # unpinned: on any manager
