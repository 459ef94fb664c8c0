"""Make a service's containers match its specs: decide (plan_changes, pure data in and out),
then do (apply, through the DockerClient). Create, recreate, start, remove; nothing else."""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from stack.deploy.docker import labels
from stack.deploy.docker.client import Container, DockerClient, replica_of
from stack.deploy.docker.spec import ContainerSpec

PARALLEL_STOPS = 8
PARALLEL_STARTS = 8


@dataclass(frozen=True)
class Change:
    action: str  # created | recreated | started | removed | unchanged
    container: str


@dataclass(frozen=True)
class Policy:
    """What `stack up` and `stack scale` decide differently.

    recreate_changed: recreate a replica whose config hash is not its spec's, or that sits in
    a dead network namespace. Off for scaling, which adds and removes replicas and leaves the
    others as they run (the next `stack up` recreates them).
    """

    recreate_changed: bool = True


UP = Policy()
SCALE = Policy(recreate_changed=False)


@dataclass(frozen=True)
class Existing:
    """What the planner knows of one of the service's containers."""

    name: str
    replica: int
    config_hash: str | None  # its labels.CONFIG_HASH
    status: str  # Docker's: created, running, exited, ...
    dead: bool = False  # joined a holder's network namespace that is gone (netns.stale)


Kind = Literal["remove", "recreate", "create", "start", "keep"]
CHANGE_OF: dict[Kind, str] = {
    "remove": "removed",
    "recreate": "recreated",
    "create": "created",
    "start": "started",
    "keep": "unchanged",
}


@dataclass(frozen=True)
class Action:
    """One step: remove or recreate stop the existing replica first, within grace seconds
    (None: its own stop timeout); every action but remove ends with spec's replica running."""

    kind: Kind
    name: str
    replica: int
    spec: ContainerSpec | None = None  # the wanted replica; None for remove
    grace: int | None = None

    @property
    def change(self) -> Change:
        return Change(CHANGE_OF[self.kind], self.name)


def describe(containers: list[Container], dead: Collection[str] = ()) -> list[Existing]:
    """The planner's view of containers; dead: names of those in a dead network namespace."""
    return [
        Existing(
            name=str(c.name),
            replica=replica_of(c),
            config_hash=c.labels.get(labels.CONFIG_HASH),
            status=str(c.status),
            dead=c.name in dead,
        )
        for c in containers
    ]


def _grace(existing: Existing) -> int | None:
    # A container in a dead namespace reaches nothing: it can neither finish a task (its ack
    # and result would not arrive) nor shut down warmly, so it is stopped at once.
    return 0 if existing.dead else None


def plan_changes(
    specs: list[ContainerSpec], existing: list[Existing], policy: Policy
) -> list[Action]:
    """The actions that take existing to specs, in order: extra replicas removed (highest
    number first), then one action per spec in replica order."""
    by_replica = {e.replica: e for e in existing}
    wanted = {spec.replica for spec in specs}
    extra = sorted((e for n, e in by_replica.items() if n not in wanted), key=lambda e: -e.replica)
    actions = [Action("remove", e.name, e.replica, grace=_grace(e)) for e in extra]
    for spec in specs:
        current = by_replica.get(spec.replica)
        kind: Kind
        if current is None:
            kind = "create"
        elif policy.recreate_changed and (current.config_hash != spec.config_hash or current.dead):
            kind = "recreate"
        elif current.status in ("created", "exited"):
            kind = "start"
        else:
            kind = "keep"
        grace = _grace(current) if kind == "recreate" and current is not None else None
        actions.append(Action(kind, spec.name, spec.replica, spec, grace))
    return actions


def apply(
    docker: DockerClient, actions: list[Action], containers: list[Container]
) -> tuple[list[Change], list[Container]]:
    """Carry out plan_changes' actions on the containers it was given (as data); returns the
    changes and the containers that now run the specs, in the actions' order.

    Removals are stopped in parallel, then the replicas to recreate, then the rest is
    created and started in parallel.
    """
    by_replica = {replica_of(c): c for c in containers}
    for kind in ("remove", "recreate"):
        _stop_each(docker, [(by_replica[a.replica], a.grace) for a in actions if a.kind == kind])

    def one(action: Action) -> Container:
        if action.kind in ("create", "recreate"):
            assert action.spec is not None  # plan_changes gives every one its spec
            return docker.create(action.spec)
        current = by_replica[action.replica]
        if action.kind == "start":
            docker.start(current)
        return current

    # In parallel: the engine takes ~0.4 s to create and start one container, and
    # `stack scale red=8` should not wait for seven of them in a row.
    running = [a for a in actions if a.kind != "remove"]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_STARTS, len(running) or 1)) as pool:
        touched = list(pool.map(one, running))
    return [a.change for a in actions], touched


def reconcile(
    docker: DockerClient,
    specs: list[ContainerSpec],
    containers: list[Container],
    *,
    policy: Policy,
    dead: Collection[str] = (),
) -> tuple[list[Change], list[Container]]:
    """Converge one service's containers on specs (plan, then apply); dead: names of those
    in a dead network namespace (netns.stale)."""
    return apply(docker, plan_changes(specs, describe(containers, dead), policy), containers)


def stop_all(docker: DockerClient, containers: list[Container], dead: Collection[str] = ()) -> None:
    """Graceful stops in parallel (each waits up to its own grace period), then removal;
    those named in dead (a dead network namespace) at once."""
    _stop_each(docker, [(c, 0 if c.name in dead else None) for c in containers])


def _stop_each(docker: DockerClient, stops: list[tuple[Container, int | None]]) -> None:
    if not stops:
        return
    with ThreadPoolExecutor(max_workers=min(PARALLEL_STOPS, len(stops))) as pool:
        futures = [pool.submit(docker.stop_and_remove, c, grace) for c, grace in stops]
        for future in futures:
            future.result()
