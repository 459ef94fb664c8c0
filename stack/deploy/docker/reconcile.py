"""Make a service's containers match its specs: create, recreate, start, remove; nothing else."""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from stack.deploy.docker import labels
from stack.deploy.docker.client import Container, DockerClient, replica_of
from stack.deploy.docker.spec import ContainerSpec

PARALLEL_STOPS = 8
PARALLEL_STARTS = 8


@dataclass(frozen=True)
class Change:
    action: str  # created | recreated | started | removed | unchanged
    container: str


def stop_all(docker: DockerClient, containers: list[Container], dead: Collection[str] = ()) -> None:
    """Graceful stops in parallel (each waits up to its own grace period), then removal.

    dead: names of containers in a dead network namespace (netns.stale), stopped at once: one
    can reach nothing, so it can neither finish a task (its ack and result would not
    arrive) nor shut down warmly.
    """
    if not containers:
        return
    with ThreadPoolExecutor(max_workers=min(PARALLEL_STOPS, len(containers))) as pool:
        futures = [
            pool.submit(docker.stop_and_remove, c, 0 if c.name in dead else None)
            for c in containers
        ]
        for future in futures:
            future.result()


def reconcile(
    docker: DockerClient,
    specs: list[ContainerSpec],
    existing: list[Container],
    recreate: bool = True,
    stale: set[str] | None = None,
) -> tuple[list[Change], list[Container]]:
    """Converge one service's replicas on specs; returns changes and the containers to wait for.

    recreate=False (scaling) leaves existing replicas alone even if their spec changed.
    stale: names of containers to recreate whatever their spec (a dead network namespace).
    Extra replicas are removed highest number first, each with its grace period.
    """
    by_replica = {replica_of(c): c for c in existing}
    wanted = {spec.replica for spec in specs}
    extra = sorted(
        (c for n, c in by_replica.items() if n not in wanted), key=replica_of, reverse=True
    )
    dead = stale or set()
    changes = [Change("removed", c.name) for c in extra]
    stop_all(docker, extra, dead)

    outdated = [
        by_replica[s.replica]
        for s in specs
        if recreate
        and s.replica in by_replica
        and (
            by_replica[s.replica].labels.get(labels.CONFIG_HASH) != s.config_hash
            or by_replica[s.replica].name in dead
        )
    ]
    stop_all(docker, outdated, dead)
    outdated_names = {c.name for c in outdated}

    def converge_one(spec: ContainerSpec) -> tuple[Change, Container]:
        current = by_replica.get(spec.replica)
        if current is None or current.name in outdated_names:
            return Change("recreated" if current else "created", spec.name), docker.create(spec)
        if current.status in ("created", "exited"):
            docker.start(current)
            return Change("started", spec.name), current
        return Change("unchanged", spec.name), current

    # In parallel: the engine takes ~0.4 s to create and start one container, and
    # `stack scale red=8` should not wait for seven of them in a row.
    touched: list[Container] = []
    with ThreadPoolExecutor(max_workers=min(PARALLEL_STARTS, len(specs) or 1)) as pool:
        for change, container in pool.map(converge_one, specs):
            changes.append(change)
            touched.append(container)
    return changes, touched
