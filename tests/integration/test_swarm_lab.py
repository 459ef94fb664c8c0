"""scripts/swarm-lab: three Docker engines, each in a network namespace of its own, joined
in a Swarm, with a TLS registry every engine pushes to and pulls from; tear-down leaves
nothing, and the host's own engine is left as it was."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, unavailable

pytestmark = pytest.mark.docker

LAB = ROOT / "scripts" / "swarm-lab"
PREFIX = "stktest"  # not the script's default: a lab a user runs is left alone
NET = "10.246.0"
ENV = {**os.environ, "STACK_LAB_PREFIX": PREFIX, "STACK_LAB_NET": NET}
REGISTRY = f"{NET}.1:5000"


def lab(*args: str) -> str:
    done = subprocess.run([str(LAB), *args], env=ENV, capture_output=True, text=True,
                          timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, f"swarm-lab {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def engine(n: int) -> Any:
    import docker

    return docker.DockerClient(base_url=f"unix:///run/{PREFIX}/{n}/docker.sock", timeout=60)


def leftovers() -> list[str]:
    found = [p for p in (f"/run/{PREFIX}", f"/var/lib/{PREFIX}", f"/etc/docker/certs.d/{REGISTRY}")
             if Path(p).exists()]  # fmt: skip
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    found += [line.split(":")[1].strip() for line in links.stdout.splitlines() if PREFIX in line]
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    found += [line.split()[0] for line in spaces.stdout.splitlines() if line.startswith(PREFIX)]
    for chain in ("FORWARD", "INPUT"):
        rules = subprocess.run(["iptables", "-S", chain], capture_output=True, text=True,
                               check=True)  # fmt: skip
        found += [line for line in rules.stdout.splitlines() if PREFIX in line]
    return found


@pytest.fixture
def swarm(docker_sdk: Any) -> Iterator[None]:
    for tool in ("dockerd", "docker-registry", "openssl", "nsenter", "iptables"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (`make setup`)")
    if os.geteuid() != 0:
        unavailable("scripts/swarm-lab needs root (network namespaces, a bridge)")
    if leftovers():
        lab("down")
    try:
        lab("up", "3")
        yield
    finally:
        lab("down")


def test_three_engines_in_one_swarm_pull_what_this_host_pushed(
    swarm: None, docker_sdk: Any
) -> None:
    manager = engine(1)
    nodes = manager.nodes.list()
    assert len(nodes) == 3
    assert {n.attrs["Status"]["State"] for n in nodes} == {"ready"}
    assert sorted(n.attrs["Spec"]["Labels"]["stack.lab"] for n in nodes) == ["lab1", "lab2", "lab3"]
    assert [n.attrs["Spec"]["Role"] for n in nodes].count("manager") == 1
    reference = f"{REGISTRY}/test/redis:7"
    docker_sdk.images.get(os.environ["STACK_REDIS_IMAGE"]).tag(reference)
    try:
        pushed = [m for m in docker_sdk.api.push(reference, stream=True, decode=True)]
        assert not [m for m in pushed if "error" in m], pushed
        digest = next(m["aux"]["Digest"] for m in pushed if m.get("aux"))
        for n in (2, 3):
            image = engine(n).images.pull(f"{REGISTRY}/test/redis@{digest}")
            output = engine(n).containers.run(image.id, ["redis-server", "--version"], remove=True)
            assert b"Redis server" in output
    finally:
        with contextlib.suppress(Exception):
            docker_sdk.images.remove(reference)
    assert docker_sdk.info()["Swarm"]["LocalNodeState"] == "inactive"  # the host's engine


def test_down_leaves_nothing_and_the_hosts_engine_as_it_was(docker_sdk: Any) -> None:
    bridges_before = {n.name for n in docker_sdk.networks.list()}
    lab("up", "1")
    lab("down")
    assert leftovers() == []
    assert {n.name for n in docker_sdk.networks.list()} == bridges_before
    link = subprocess.run(["ip", "link", "show", "docker0"], capture_output=True, check=False)
    assert link.returncode == 0, "the host engine's docker0 bridge is gone"
