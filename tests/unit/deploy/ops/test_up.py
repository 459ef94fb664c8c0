"""The core of `stack up` and `stack scale` (orphans, the netns holder, infra and apps
converged) on an in-memory Docker client: what each run creates, keeps and removes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stack.deploy.docker import netns
from stack.deploy.docker.reconcile import SCALE, Change
from stack.deploy.ops.project import Project, open_project
from stack.deploy.ops.up import converge, converge_stack, remove_orphans
from stack.deploy.revision import app_revisions
from tests.helpers import FakeDocker, project_copy

RED = "red:      {queues: [red_queue], concurrency: 2, replicas: 1}"


def ids(project: Project, app: str) -> dict[str, str]:
    found = {s.image: f"sha256:{s.image}" for s in project.services}
    return {**found, project.images.python: "sha256:python", project.images.app: app}


def up(docker: FakeDocker, project: Project, app: str = "sha256:app1") -> list[Change]:
    """What up.up() does between the image build and the readiness wait."""
    revisions = app_revisions("c0de", project.topology, project.services)
    infra_running: list[bool] = []
    changes = remove_orphans(docker, project)
    done, waiting = converge_stack(
        docker, project, ids=ids(project, app), revisions=revisions,
        infra_running=lambda: infra_running.append(True),
    )  # fmt: skip
    assert infra_running == [True]
    # Every container that runs a service is waited for, and only those.
    waited = {c.name for w in waiting for c in w.containers}
    assert waited == {c.name for c in docker.store.values()} - {netns.holder_name(project.name)}
    return changes + done


def scale(docker: FakeDocker, project: Project, counts: dict[str, int]) -> list[Change]:
    """What scale.scale() converges: the groups at their new counts, the running holder."""
    services = [replace(s, replicas=counts[s.name]) for s in project.services if s.name in counts]
    holder = docker.store[netns.holder_name(project.name)]
    revisions = app_revisions("c0de", project.topology, services)
    changes, _ = converge(
        docker, project, services, ids=ids(project, "sha256:app1"), revisions=revisions,
        policy=SCALE, holder=holder,
    )  # fmt: skip
    return changes


def edited(path: Path, old: str, new: str) -> Project:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return open_project(path, full=False)


def actions(changes: list[Change], name: str) -> dict[str, str]:
    """Container (without the project prefix) -> what happened to it."""
    return {c.container.removeprefix(f"{name}-"): c.action for c in changes}


def test_first_up_creates_every_container_and_a_second_changes_nothing(tmp_path: Path) -> None:
    project = open_project(project_copy(tmp_path, "topology.yaml", "fake"), full=False)
    docker = FakeDocker()

    first = up(docker, project)
    assert actions(first, project.name) == {
        name: "created"
        for name in (
            "netns-1", "redis-1", "red-1", "green-1", "blue-1", "colorful-1", "beat-1", "flower-1",
            "metrics-1",
        )
    }  # fmt: skip
    assert {call[0] for call in docker.calls} == {"create"}
    # Workers and beat join the holder's namespace; the broker and Flower keep their own.
    modes = {c.name: c.attrs["HostConfig"]["NetworkMode"] for c in docker.store.values()}
    assert modes[f"{project.name}-red-1"] == f"container:{project.name}-netns-1"
    assert modes[f"{project.name}-redis-1"] == project.name

    docker.calls.clear()
    again = up(docker, project)
    assert {c.action for c in again} == {"unchanged"}
    assert len(again) == len(first)
    assert docker.calls == []


def test_an_edit_of_one_group_recreates_that_group_only(tmp_path: Path) -> None:
    path = project_copy(tmp_path, "topology.yaml", "fake")
    docker = FakeDocker()
    up(docker, open_project(path, full=False))
    docker.calls.clear()

    project = edited(path, RED, RED.replace("concurrency: 2", "concurrency: 3"))
    # An edit builds a new image; only the red group's revision changes.
    changes = actions(up(docker, project, app="sha256:app2"), project.name)
    assert {n for n, a in changes.items() if a != "unchanged"} == {"red-1"}
    assert changes["red-1"] == "recreated"
    red = f"{project.name}-red-1"
    assert docker.calls == [("stop_and_remove", red, None), ("create", red)]  # its own grace


def test_a_renamed_group_removes_the_old_one_and_creates_the_new(tmp_path: Path) -> None:
    path = project_copy(tmp_path, "topology.yaml", "fake")
    docker = FakeDocker()
    up(docker, open_project(path, full=False))

    project = edited(path, "  red:  ", "  crimson:")
    changes = actions(up(docker, project, app="sha256:app2"), project.name)
    assert changes["red-1"] == "removed"
    assert changes["crimson-1"] == "created"
    assert not any(name.endswith("-red-1") for name in docker.store)


def test_a_holder_restart_recreates_the_containers_that_joined_it_at_once(tmp_path: Path) -> None:
    project = open_project(project_copy(tmp_path, "topology.yaml", "fake"), full=False)
    docker = FakeDocker()
    up(docker, project)
    docker.restart(netns.holder_name(project.name))
    docker.calls.clear()

    changes = actions(up(docker, project), project.name)
    joined = {"red-1", "green-1", "blue-1", "colorful-1", "beat-1"}
    assert {n for n, a in changes.items() if a == "recreated"} == joined
    unchanged = {"netns-1", "redis-1", "flower-1", "metrics-1"}
    assert {n for n, a in changes.items() if a == "unchanged"} == unchanged
    stops = [call for call in docker.calls if call[0] == "stop_and_remove"]
    # Their namespace is dead: no warm shutdown to wait for.
    assert sorted(stops) == sorted(("stop_and_remove", f"{project.name}-{n}", 0) for n in joined)


def test_scale_adds_replicas_then_removes_the_highest_first(tmp_path: Path) -> None:
    project = open_project(project_copy(tmp_path, "topology.yaml", "fake"), full=False)
    docker = FakeDocker()
    up(docker, project)
    docker.calls.clear()

    grown = actions(scale(docker, project, {"red": 4}), project.name)
    assert grown == {
        "red-1": "unchanged",
        "red-2": "created",
        "red-3": "created",
        "red-4": "created",
    }
    docker.calls.clear()

    shrunk = scale(docker, project, {"red": 1})
    assert [(c.action, c.container.removeprefix(f"{project.name}-")) for c in shrunk] == [
        ("removed", "red-4"),
        ("removed", "red-3"),
        ("removed", "red-2"),
        ("unchanged", "red-1"),
    ]
    assert sorted(docker.kinds("stop_and_remove")) == [f"{project.name}-red-{n}" for n in (2, 3, 4)]
    assert sorted(docker.store) == sorted(
        f"{project.name}-{n}"
        for n in (
            "netns-1",
            "redis-1",
            "red-1",
            "green-1",
            "blue-1",
            "colorful-1",
            "beat-1",
            "flower-1",
            "metrics-1",
        )
    )


def test_scale_after_an_edit_leaves_running_replicas_and_up_then_recreates_them(
    tmp_path: Path,
) -> None:
    path = project_copy(tmp_path, "topology.yaml", "fake")
    docker = FakeDocker()
    up(docker, open_project(path, full=False))
    project = edited(path, RED, RED.replace("concurrency: 2", "concurrency: 3"))

    assert actions(scale(docker, project, {"red": 2}), project.name) == {
        "red-1": "unchanged",  # scaling restarts nothing
        "red-2": "created",
    }
    changes = actions(up(docker, project, app="sha256:app2"), project.name)
    assert changes["red-1"] == "recreated"
    assert changes["red-2"] == "removed"  # back to the topology's one replica
