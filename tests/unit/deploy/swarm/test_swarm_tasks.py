"""What Swarm's task records say, for `stack ps`, `top` and `logs` on Swarm: live tasks,
a group's replicas and Celery node names, where beat's state can be read, log lines'
task names."""

from __future__ import annotations

from typing import Any

from stack.deploy.swarm.tasks import (
    Replicas,
    container_here,
    live,
    replicas,
    split_details,
    task_names,
    worker_node,
)

CONTAINER = "d422850f4a81ff6fbfedb40cefa718077b5937f7b767514a9b9776955a9bba92"


def task(slot: int, node: str = "n1", state: str = "running", **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    if state == "running":
        status["ContainerStatus"] = {"ContainerID": f"{slot:x}{CONTAINER[1:]}"}
    return {"ID": f"task{slot}", "Slot": slot, "NodeID": node, "DesiredState": "running",
            "Status": status, **extra}  # fmt: skip


def service(replicas: int | None) -> dict[str, Any]:
    mode = {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}}
    return {"Spec": {"Mode": mode}}


def test_live_tasks_run_on_a_ready_node_and_are_meant_to() -> None:
    tasks = [task(1), task(2, node="lost"), task(3, state="starting"),
             task(4, DesiredState="shutdown")]  # fmt: skip
    assert [t["Slot"] for t in live(tasks, {"n1"})] == [1]
    assert live(tasks, set()) == []


def test_a_groups_replicas_and_node_names_come_from_its_service_and_live_tasks() -> None:
    running = live([task(1), task(2), task(3, state="pending")], {"n1"})
    nodes = frozenset({f"red@1{CONTAINER[1:12]}", f"red@2{CONTAINER[1:12]}"})
    assert replicas("red", service(4), running) == Replicas(running=2, desired=4, nodes=nodes)
    assert replicas("red", service(None), []).desired == 0
    # Celery's %h in a task's container: Docker's default hostname, 12 digits of the id.
    assert worker_node("red", task(1)) == f"red@1{CONTAINER[1:12]}"
    assert worker_node("red", task(1, state="pending")) is None


def test_beats_state_is_read_only_from_a_task_on_the_engines_own_node() -> None:
    here, there = task(1, node="manager"), task(1, node="other")
    assert container_here([there, here], "manager") == (container_here([here], "manager")[0], "")
    assert container_here([here], "manager")[0] == f"1{CONTAINER[1:]}"
    found, why = container_here([there], "manager")
    assert found is None
    assert "another node" in why
    assert container_here([], "manager") == (None, "not running")


def test_a_log_line_is_named_by_its_task() -> None:
    names = task_names("p_red", [task(1), task(2), {"ID": "global", "Status": {}}])
    assert names == {"task1": "p_red.1", "task2": "p_red.2"}
    details = b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s,com.docker.swarm.task.id="
    assert split_details(details + b"task2 [INFO] red@x ready.", names, "p_red") == (
        "p_red.2", "[INFO] red@x ready.",
    )  # fmt: skip
    # A task that started after the names were read: its id; a blank line stays one.
    assert split_details(details + b"abcdefghijklmnop hi", names, "p_red") == (
        "p_red.abcdefghijkl", "hi",
    )  # fmt: skip
    assert split_details(details + b"task1 ", names, "p_red") == ("p_red.1", "")
    assert split_details(b"(logs ended: gone)", names, "p_red") == ("p_red", "(logs ended: gone)")
    assert split_details("é".encode() + b"\xff", names, "p_red")[1] == "é\ufffd"
