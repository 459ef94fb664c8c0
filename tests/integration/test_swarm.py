"""`stack deploy --target swarm` on a real three-node Swarm (scripts/swarm-lab: three
Docker engines in network namespaces of their own, a TLS registry they all pull from): the
colour demo deployed, every colour task run by an allowed group, replicas spread over the
nodes, scale and back, an edit that updates only what it changed, `stack down` leaving
nothing on any node; `stack top` and `stack logs --follow` there. The commands run as a user
runs them, with DOCKER_HOST at the lab's manager."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, project_copy, unavailable

pytestmark = pytest.mark.docker

LAB = ROOT / "scripts" / "swarm-lab"
PREFIX = "stkswarm"  # neither the script's default nor test_swarm_lab's
NET = "10.245.0"
REGISTRY = f"{NET}.1:5000"
LAB_ENV = {**os.environ, "STACK_LAB_PREFIX": PREFIX, "STACK_LAB_NET": NET}
MANAGER = {**os.environ, "DOCKER_HOST": f"unix:///run/{PREFIX}/1/docker.sock"}
ALLOWED = {"red_task": {"red", "colorful"}, "green_task": {"green", "colorful"},
           "blue_task": {"blue", "colorful"}}  # fmt: skip


def lab(*args: str) -> None:
    done = subprocess.run([str(LAB), *args], env=LAB_ENV, capture_output=True, text=True,
                          timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, f"swarm-lab {' '.join(args)}:\n{done.stderr}"


def stack(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "stack", *args], env=env or MANAGER,
                          capture_output=True, text=True, timeout=400, check=False)  # fmt: skip
    assert done.returncode == 0, f"stack {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def engine(n: int) -> Any:
    import docker

    return docker.DockerClient(base_url=f"unix:///run/{PREFIX}/{n}/docker.sock", timeout=60)


@pytest.fixture(scope="module")
def demo(docker_sdk: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    for tool in ("dockerd", "docker-registry", "openssl", "nsenter", "iptables"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (`make setup`)")
    lab("down")
    lab("up", "3")
    try:
        redis = f"{REGISTRY}/lab/redis:7"
        docker_sdk.images.get(os.environ["STACK_REDIS_IMAGE"]).tag(redis)
        for message in docker_sdk.api.push(redis, stream=True, decode=True):
            assert "error" not in message, message
        path = project_copy(tmp_path_factory.mktemp("swarm"), "topology.yaml", "t-swarm")
        text = path.read_text(encoding="utf-8").replace(
            "image: {context: .}", f"image: {{context: ., registry: {REGISTRY}/lab}}"
        )
        # A task a lost node held comes back after this (Redis' visibility timeout), not
        # after the default hour.
        text = text.replace("broker: redis", "broker: {type: redis, visibility_timeout: 20}")
        assert "visibility_timeout: 20" in text
        path.write_text(text + f"\nbind: 0.0.0.0\nimages: {{redis: {redis}}}\n", encoding="utf-8")
        stack("build", str(path), "--push", env=dict(os.environ))  # on this host's engine
        yield path
    finally:
        lab("down")


def test_the_demo_runs_on_three_nodes_and_down_leaves_nothing(demo: Path) -> None:
    path = str(demo)
    assert "runs on Swarm" in stack("deploy", path, "--target", "swarm")
    rows = {r["service"]: r for r in json.loads(stack("ps", path, "--json"))["swarm"]}
    assert all(r["running"] == r["desired"] for r in rows.values()), rows
    assert rows["redis"]["nodes"] == ["lab1"]  # the broker stays on the manager
    assert rows["beat"]["nodes"] == ["lab1"]
    used = {n for r in rows.values() for n in r["nodes"]}
    assert len(used) > 1, rows

    for task, groups in ALLOWED.items():
        for _ in range(3):
            sent = json.loads(stack("send", f"tasks.{task}", "-f", path, "--wait", "--json"))
            assert sent["state"] == "SUCCESS", sent
            assert sent["result"].partition("@")[0] in groups, (task, sent)

    stack("scale", "red=4", "-f", path)
    red = next(r for r in json.loads(stack("ps", path, "--json"))["swarm"] if r["service"] == "red")
    assert red["running"] == 4
    assert len(set(red["nodes"])) > 1, red  # spread over more than one node
    answered = {json.loads(stack("send", "tasks.red_task", "-f", path, "--wait", "--json"))[
        "result"] for _ in range(12)}  # fmt: skip
    assert len({a for a in answered if a.startswith("red@")}) > 1, answered
    stack("scale", "red=1", "-f", path)

    edited = demo.read_text(encoding="utf-8").replace(
        "blue:     {queues: [blue_queue]}", "blue:     {queues: [blue_queue], time_limit: 60}"
    )
    assert edited != demo.read_text(encoding="utf-8")
    demo.write_text(edited, encoding="utf-8")
    stack("build", path, "--push", env=dict(os.environ))
    changed = stack("deploy", path, "--target", "swarm")
    updated = sorted(line.split()[1] for line in changed.splitlines() if line.startswith("updated"))
    name = json.loads(stack("ps", path, "--json"))["project"]
    # The image holds the topology: every app service runs the new image; the broker stays.
    assert f"{name}_redis" not in updated, changed
    assert f"{name}_blue" in updated, changed

    logged = stack("logs", "red", "-f", path, "--tail", "200")
    assert f"{name}_red.1 | " in logged  # each line by its task
    assert "ready." in logged, logged[-2000:]

    removed = stack("down", path, "--volumes")
    assert f"service {name}_red" in removed
    for n in (1, 2, 3):
        client = engine(n)
        assert client.containers.list(all=True) == [], n
        assert [v.name for v in client.volumes.list()] == [], n
    manager = engine(1)
    assert [s.name for s in manager.services.list()] == []
    assert [s.name for s in manager.secrets.list()] == []
    assert not [n.name for n in manager.networks.list() if n.name.startswith(name)]


def until(check: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"not after {seconds:.0f} s: {what}"
        time.sleep(1)
    return found


def top(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stack("top", path, "--once", "--json"))
    return data


def test_top_and_logs_follow_see_every_node(demo: Path) -> None:
    """`stack top --once --json`: replicas over every node after a scale, each answering
    and none counted as outside the stack, a queue's depth, beat's runs (its task is on
    the manager, the engine's own node). `stack logs --follow`: every service's lines, a
    task's prefixed by the task that ran it; ^C ends it with 0. Leaves the stack up."""
    import signal
    import threading

    path = str(demo)
    stack("deploy", path, "--target", "swarm")
    stack("scale", "red=3", "-f", path)

    def red_answers() -> dict[str, Any] | None:
        data = top(path)
        red = next(g for g in data["groups"] if g["name"] == "red")
        return data if red["answering"] == 3 else None

    data = until(red_answers, "three red replicas answering")
    red = next(g for g in data["groups"] if g["name"] == "red")
    assert (red["up"], red["desired"], red["consuming"]) == (3, 3, ["red_queue"]), red
    assert data["drift"] == []  # every worker is one of the stack's tasks, on any node
    red_queue = next(q for q in data["queues"] if q["name"] == "red_queue")
    assert len([n for n in red_queue["consumers"] if n.startswith("red@")]) == 3, red_queue
    # No group consumes the default queue: what is sent there waits, and top counts it.
    for _ in range(3):
        assert "queue=celery" in stack("send", "tasks.nobody_runs_this", "-f", path)
    celery = next(q for q in top(path)["queues"] if q["name"] == "celery")
    assert (celery["pending"], celery["consumers"]) == (3, []), celery
    data = until(lambda: (d := top(path))["beat"] and d, "beat's state")
    assert data["beat_unknown"] is None
    tick = next(e for e in data["beat"] if e["entry"] == "tick")
    assert tick["last_run"] is not None, tick

    name = data["project"]
    env = {**MANAGER, "PYTHONUNBUFFERED": "1"}
    follow = subprocess.Popen(
        [sys.executable, "-m", "stack", "logs", "-f", path, "--follow", "--tail", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: list[str] = []  # every line so far, appended by the reader
    reader = threading.Thread(target=lambda: seen.extend(follow.stdout or ()), daemon=True)
    reader.start()

    def line_with(text: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = next((line for line in list(seen) if text in line), None)
            if found is not None:
                return found
            time.sleep(0.2)
        pytest.fail(f"no line with {text!r} in 30 s; {len(seen)} lines, the last: {seen[-5:]}")

    try:
        line_with(f"{name}_redis.1 | ")  # each service's last line: its stream is open
        line_with(f"{name}_red.1 | ")
        sent = json.loads(stack("send", "tasks.red_task", "-f", path, "--wait", "--json"))
        done = line_with(f"tasks.red_task[{sent['id']}] succeeded")
        group = sent["result"].partition("@")[0]  # red or colorful: both consume red_queue
        assert done.startswith(f"{name}_{group}."), done
        assert sent["result"] in done
    finally:
        follow.send_signal(signal.SIGINT)
        try:
            follow.wait(timeout=20)
        except subprocess.TimeoutExpired:
            follow.kill()
            follow.wait()
        err = follow.stderr.read() if follow.stderr else ""
        reader.join(timeout=10)  # at the end of the output: then its pipe can close
        for pipe in (follow.stdout, follow.stderr):
            if pipe is not None:
                pipe.close()
    assert follow.returncode == 0, err
    assert "Traceback" not in err, err


def test_a_worker_node_stopped_under_load_loses_no_task(demo: Path) -> None:
    """Its engine stops (SIGTERM; the node drops off the overlay as its containers stop),
    Swarm starts its replicas on the other nodes, and each of 120 tasks in flight completes,
    at least once: what the lost node held comes back after Redis' visibility timeout."""
    import signal

    from celery import Celery

    from stack.deploy.ops.endpoints import host_urls
    from stack.producer import configure
    from stack.topology.load import load

    path = str(demo)
    stack("deploy", path, "--target", "swarm")
    stack("scale", "red=3", "-f", path)
    rows = {r["service"]: r for r in json.loads(stack("ps", path, "--json"))["swarm"]}
    victim = next(n for n in rows["red"]["nodes"] if n != "lab1")  # not the manager
    loaded = load(demo)
    os.environ["DOCKER_HOST"] = MANAGER["DOCKER_HOST"]
    try:
        from stack.deploy.docker import client as docker_client

        docker_client._client = None  # this process's client, at the manager now
        broker, backend = host_urls(loaded)
    finally:
        del os.environ["DOCKER_HOST"]
        docker_client._client = None
    app = configure(Celery("fault", set_as_current=False), loaded.topology, broker, backend)
    try:
        sent = [app.send_task("tasks.red_task", args=[0.5]) for _ in range(120)]
        time.sleep(2)  # every red replica holds some
        pid = int(Path(f"/run/{PREFIX}/{victim[3:]}/docker.pid").read_text())
        started = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        results = [r.get(timeout=300) for r in sent]
        took = time.monotonic() - started
    finally:
        app.close()
    assert len(results) == 120
    assert {r.partition("@")[0] for r in results} <= ALLOWED["red_task"]

    def moved() -> Any:
        red = next(r for r in json.loads(stack("ps", path, "--json"))["swarm"]
                   if r["service"] == "red")  # fmt: skip
        return red["running"] == 3 and victim not in red["nodes"] and red

    deadline = time.monotonic() + 120
    while not (red := moved()):
        assert time.monotonic() < deadline, "red's replicas were not started elsewhere"
        time.sleep(2)
    print(f"node {victim} lost: 120/120 tasks done {took:.1f} s after; red on {red['nodes']}")
    stack("down", path, "--volumes")
