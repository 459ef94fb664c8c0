"""The change planner (plan_changes: data in, actions out) and the executor that applies
them through the Docker client (here the in-memory FakeDocker)."""

from __future__ import annotations

from stack.deploy.docker.reconcile import (
    SCALE,
    UP,
    Action,
    Change,
    Existing,
    apply,
    describe,
    plan_changes,
)
from stack.deploy.docker.spec import ContainerSpec
from tests.helpers import FakeDocker


def spec(replica: int, command: tuple[str, ...] = ("celery", "worker")) -> ContainerSpec:
    return ContainerSpec(
        project="p", service="red", role="worker", replica=replica, image="app",
        image_id="sha256:app", revision="r1", command=command, environment={},
        network="p", aliases=(), hostname=f"p-red-{replica}", join="p-netns-1",
    )  # fmt: skip


def specs(count: int) -> list[ContainerSpec]:
    return [spec(n) for n in range(1, count + 1)]


def running(
    replica: int, config_hash: str | None = None, *, status: str = "running", dead: bool = False
) -> Existing:
    """An existing replica; its hash is its spec's unless given."""
    own = spec(replica).config_hash
    return Existing(f"p-red-{replica}", replica, config_hash or own, status, dead)


def steps(actions: list[Action]) -> list[tuple[str, str, int | None]]:
    return [(a.kind, a.name, a.grace) for a in actions]


def test_nothing_there_creates_every_replica_in_order() -> None:
    assert steps(plan_changes(specs(3), [], UP)) == [
        ("create", "p-red-1", None),
        ("create", "p-red-2", None),
        ("create", "p-red-3", None),
    ]


def test_replicas_as_specified_and_running_are_kept() -> None:
    plan = plan_changes(specs(2), [running(1), running(2)], UP)
    assert [a.kind for a in plan] == ["keep", "keep"]
    assert [a.change for a in plan] == [
        Change("unchanged", "p-red-1"),
        Change("unchanged", "p-red-2"),
    ]


def test_stopped_and_never_started_replicas_are_started_not_recreated() -> None:
    existing = [running(1, status="exited"), running(2, status="created"), running(3)]
    assert [a.kind for a in plan_changes(specs(3), existing, UP)] == ["start", "start", "keep"]


def test_a_replica_whose_config_changed_is_recreated_with_its_own_grace() -> None:
    plan = plan_changes(specs(2), [running(1, "old"), running(2)], UP)
    assert steps(plan) == [("recreate", "p-red-1", None), ("keep", "p-red-2", None)]
    assert plan[0].spec == spec(1)
    assert plan[0].change == Change("recreated", "p-red-1")


def test_scale_down_removes_the_highest_replicas_first_then_plans_the_rest() -> None:
    existing = [running(n) for n in (1, 2, 3, 4)]
    plan = plan_changes(specs(1), existing, SCALE)
    assert steps(plan) == [
        ("remove", "p-red-4", None),
        ("remove", "p-red-3", None),
        ("remove", "p-red-2", None),
        ("keep", "p-red-1", None),
    ]
    assert [a.change.action for a in plan] == ["removed"] * 3 + ["unchanged"]


def test_scale_to_zero_removes_every_replica() -> None:
    assert steps(plan_changes([], [running(1), running(2)], SCALE)) == [
        ("remove", "p-red-2", None),
        ("remove", "p-red-1", None),
    ]


def test_scale_leaves_changed_replicas_alone_and_only_adds_or_starts() -> None:
    existing = [running(1, "old"), running(2, "old", status="exited")]
    assert [a.kind for a in plan_changes(specs(3), existing, SCALE)] == ["keep", "start", "create"]
    # The same containers under `stack up`'s policy: both recreated.
    assert [a.kind for a in plan_changes(specs(3), existing, UP)] == [
        "recreate",
        "recreate",
        "create",
    ]


def test_a_replica_in_a_dead_namespace_is_recreated_at_once_though_its_spec_is_the_same() -> None:
    existing = [running(1, dead=True), running(2), running(3, dead=True)]
    assert steps(plan_changes(specs(2), existing, UP)) == [
        ("remove", "p-red-3", 0),
        ("recreate", "p-red-1", 0),
        ("keep", "p-red-2", None),
    ]


def test_scale_keeps_a_replica_in_a_dead_namespace_but_removes_an_extra_one_at_once() -> None:
    existing = [running(1, dead=True), running(2, dead=True)]
    assert steps(plan_changes(specs(1), existing, SCALE)) == [
        ("remove", "p-red-2", 0),
        ("keep", "p-red-1", None),
    ]


def test_describe_reads_replica_hash_status_and_dead_names_from_containers() -> None:
    docker = FakeDocker()
    first, second = (docker.create(s) for s in specs(2))
    second.status = "exited"
    assert describe([first, second], dead={"p-red-2"}) == [
        Existing("p-red-1", 1, spec(1).config_hash, "running", dead=False),
        Existing("p-red-2", 2, spec(2).config_hash, "exited", dead=True),
    ]


def test_apply_stops_removals_then_recreations_before_it_creates_and_starts() -> None:
    docker = FakeDocker()
    for s in specs(4):
        docker.create(s)
    docker.store["p-red-2"].status = "exited"
    docker.calls.clear()
    wanted = [spec(1, ("celery", "worker", "-c", "2")), spec(2)]
    containers = docker.containers("p")
    plan = plan_changes(wanted, describe(containers, dead={"p-red-4"}), UP)
    changes, touched = apply(docker, plan, containers)

    assert changes == [
        Change("removed", "p-red-4"),
        Change("removed", "p-red-3"),
        Change("recreated", "p-red-1"),
        Change("started", "p-red-2"),
    ]
    removals, rest = docker.calls[:3], docker.calls[3:]
    # Removals stop in parallel (any order), each with its grace: at once for a dead one.
    assert sorted(removals) == [
        ("stop_and_remove", "p-red-1", None),  # recreated: the old one goes first
        ("stop_and_remove", "p-red-3", None),
        ("stop_and_remove", "p-red-4", 0),
    ]
    assert docker.calls.index(("stop_and_remove", "p-red-1", None)) == 2  # after the removals
    assert sorted(rest) == [("create", "p-red-1"), ("start", "p-red-2")]
    assert [c.name for c in touched] == ["p-red-1", "p-red-2"]
    assert touched[0].labels == wanted[0].labels  # the new container, from the new spec
    assert sorted(docker.store) == ["p-red-1", "p-red-2"]


def test_apply_of_a_plan_that_keeps_everything_calls_nothing() -> None:
    docker = FakeDocker()
    for s in specs(2):
        docker.create(s)
    docker.calls.clear()
    containers = docker.containers("p")
    changes, touched = apply(docker, plan_changes(specs(2), describe(containers), UP), containers)
    assert {c.action for c in changes} == {"unchanged"}
    assert touched == containers
    assert docker.calls == []
