"""`stack down`: remove everything the project created, found by label."""

from __future__ import annotations

from pathlib import Path

from stack.deploy.docker import client as docker_client
from stack.deploy.docker import labels, netns
from stack.deploy.docker.reconcile import stop_all
from stack.deploy.roles import STOPPED_LAST, Role
from stack.topology.load import load


def down(path: str | Path | None = None, volumes: bool = False) -> list[str]:
    """Stop (each within its grace period) and remove the containers, the app images a
    rebuild replaced, then the network, and with volumes=True the volumes (the current app
    image stays, for the next `stack up`). Returns what was removed, as "kind name" lines."""
    topology = load(path, full=False).topology
    docker = docker_client.get()
    project = topology.name
    removed: list[str] = []
    containers = docker.containers(project)
    # Workers first, while the broker and their network still run: they finish their tasks
    # and ack them.
    apps = [c for c in containers if c.labels.get(labels.ROLE) not in STOPPED_LAST]
    infra = [c for c in containers if c.labels.get(labels.ROLE) in STOPPED_LAST]
    holder = next((c for c in infra if c.labels.get(labels.ROLE) == Role.NETNS), None)
    stop_all(docker, apps, netns.stale(holder, apps))
    stop_all(docker, infra)
    removed += [f"container {c.name}" for c in apps + infra]
    removed += [f"image {i.removeprefix('sha256:')[:12]}" for i in docker.prune_images(project)]
    for network in docker.networks(project):
        docker.remove(network, f"network {network.name}")
        removed.append(f"network {network.name}")
    if volumes:
        for volume in docker.volumes(project):
            docker.remove(volume, f"volume {volume.name}")
            removed.append(f"volume {volume.name}")
    return removed
