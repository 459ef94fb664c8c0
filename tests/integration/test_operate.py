"""Watching and steering a running colour stack, on both brokers: Flower's REST API with its
basic auth (queue lengths, workers, results, revoke, pool grow/shrink, /metrics).

One stack per broker (a class each), taken down when its class ends.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stack.cli.main import app as cli
from stack.deploy.ops.endpoints import host_urls
from stack.topology.load import load
from tests.helpers import connect, invoke, unavailable

pytestmark = pytest.mark.docker

TIMEOUT = 60
QUEUED = 7  # tasks left pending on the drained queue


class Flower:
    """Flower's REST API at the stack's published port, with the stack's basic auth."""

    def __init__(self, path: Path) -> None:
        loaded = load(path)
        self.url = json.loads(invoke("ps", str(path), "--json").output)["flower"]
        assert self.url, "no Flower URL in `stack ps`"
        secrets = (loaded.base_dir / ".stack" / f"{loaded.topology.name}.secrets").read_text()
        password = next(
            line.partition("=")[2] for line in secrets.splitlines()
            if line.startswith("FLOWER_PASSWORD=")
        )  # fmt: skip
        token = f"{loaded.topology.monitor.user}:{password}".encode()
        self.auth = "Basic " + base64.b64encode(token).decode()

    def call(self, method: str, route: str, **params: Any) -> tuple[int, str]:
        query = urllib.parse.urlencode(params)
        url = f"{self.url.rstrip('/')}{route}" + (f"?{query}" if query and method == "GET" else "")
        data = query.encode() if method == "POST" else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def json(self, method: str, route: str, **params: Any) -> Any:
        status, body = self.call(method, route, **params)
        assert status == 200, f"{method} {route}: {status} {body}"
        return json.loads(body)


def consumers_of(flower: Flower, queue: str) -> list[str]:
    workers = flower.json("GET", "/api/workers", refresh=1)
    return sorted(
        name for name, info in workers.items()
        if any(q["name"] == queue for q in info.get("active_queues") or [])
    )  # fmt: skip


def wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Terminal:
    """A command on a real terminal (tmux): what the screen shows, keys typed into it."""

    def __init__(self, name: str, command: str) -> None:
        import shutil
        import subprocess
        import sys

        if shutil.which("tmux") is None:
            unavailable("tmux is not installed (apt-get install -y tmux, or `make setup`)")
        self.run = subprocess.run
        self.session = name
        root = Path(__file__).resolve().parents[2]
        # The shell stays after the command ends, so that the screen shows it ended.
        line = f"env PYTHONPATH={root} TERM=xterm {sys.executable} -m stack {command}; sleep 60"
        self.run(["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "45", line],
                 check=True)  # fmt: skip

    def screen(self) -> str:
        pane = ["tmux", "capture-pane", "-p", "-t", self.session]
        return str(self.run(pane, capture_output=True, text=True, check=True).stdout)

    def wait(self, text: str) -> str:
        try:
            return str(wait_for(lambda: text in (s := self.screen()) and s, repr(text)))
        except AssertionError:
            raise AssertionError(f"{text!r} not on the terminal:\n{self.screen()}") from None

    def keys(self, *keys: str) -> None:
        self.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def close(self) -> None:
        self.run(["tmux", "kill-session", "-t", self.session], check=False)


class Operate:
    """The checks, on the stack of the subclass's topology."""

    source = ""

    @pytest.fixture(scope="class")
    @classmethod
    def path(cls, stack_factory: Any) -> Path:
        return stack_factory(cls.source, "t-operate")  # type: ignore[no-any-return]

    def test_flower_needs_its_auth(self, path: Path) -> None:
        flower = Flower(path)
        flower.auth = "Basic " + base64.b64encode(b"admin:wrong").decode()
        assert flower.call("GET", "/api/workers")[0] == 401

    def test_flower_workers_results_and_metrics(self, path: Path) -> None:
        flower = Flower(path)
        workers = flower.json("GET", "/api/workers", refresh=1)
        assert {name.partition("@")[0] for name in workers} >= {"red", "green", "blue", "colorful"}
        app = connect(path)
        result = app.send_task("tasks.green_task")
        node = result.get(timeout=TIMEOUT)
        info = flower.json("GET", f"/api/task/result/{result.id}")
        assert info["state"] == "SUCCESS"
        assert info["result"] == node
        online = f'flower_worker_online{{worker="{node}"}} 1.0'

        # A worker's gauge appears with its first heartbeat Flower sees (every 2 s).
        def metrics() -> str | None:
            text = flower.call("GET", "/metrics")[1]
            return text if online in text else None

        text = wait_for(metrics, f"{online} in /metrics")
        assert 'flower_events_total{task="tasks.green_task",type="task-succeeded"' in text

    def test_flower_counts_a_drained_queue_with_its_priority_sublists_and_revokes(
        self,
        path: Path,
    ) -> None:
        flower = Flower(path)
        drained = consumers_of(flower, "red_queue")
        assert {n.partition("@")[0] for n in drained} == {"red", "colorful"}, drained
        for node in drained:
            reply = flower.json(
                "POST", f"/api/worker/queue/cancel-consumer/{node}", queue="red_queue"
            )
            assert "red_queue" in reply["message"], reply
        app = connect(path)
        try:
            # Priority 9 goes to Redis's sub-list red_queue\x06\x169; RabbitMQ has one queue.
            sent = [
                app.send_task("tasks.red_task", priority=9 if i % 2 else None)
                for i in range(QUEUED)
            ]  # fmt: skip
            revoked = sent[0]

            def counted() -> Any:
                lengths = flower.json("GET", "/api/queues/length")["active_queues"]
                # RabbitMQ's management API leaves "messages" out until its next statistics
                # round (every 5 s).
                red = {q["name"]: q.get("messages") for q in lengths}.get("red_queue")
                return red == QUEUED and lengths

            lengths = wait_for(counted, f"Flower to count {QUEUED} on red_queue")
            if load(path).topology.broker.type == "redis":  # the count spans both lists
                import redis

                broker, _ = host_urls(load(path))
                with redis.Redis.from_url(broker) as client:
                    assert client.llen("red_queue\x06\x169") == QUEUED // 2
                    assert client.llen("red_queue") == QUEUED - QUEUED // 2
            assert {q["name"] for q in lengths} >= {"red_queue", "green_queue", "blue_queue"}
            status, page = flower.call("GET", "/broker")
            assert status == 200, page
            assert "red_queue" in page
            flower.json("POST", f"/api/task/revoke/{revoked.id}")
        finally:
            for node in drained:
                flower.json("POST", f"/api/worker/queue/add-consumer/{node}", queue="red_queue")
        for result in sent[1:]:
            assert result.get(timeout=TIMEOUT).startswith(("red@", "colorful@"))
        wait_for(
            lambda: flower.json("GET", f"/api/task/result/{revoked.id}")["state"] == "REVOKED",
            "the revoked task to be REVOKED",
        )

    def test_flower_grows_and_shrinks_a_pool(self, path: Path) -> None:
        flower = Flower(path)
        node = next(n for n in consumers_of(flower, "red_queue") if n.startswith("red@"))

        def processes() -> int:
            stats = flower.json("GET", "/api/workers", refresh=1, workername=node)[node]["stats"]
            return len(stats["pool"]["processes"])

        before = processes()
        flower.json("POST", f"/api/worker/pool/grow/{node}", n=1)
        wait_for(lambda: processes() == before + 1, "the pool to grow")
        flower.json("POST", f"/api/worker/pool/shrink/{node}", n=1)
        wait_for(lambda: processes() == before, "the pool to shrink")


class CeleryCli:
    """`stack celery` on the stack of the subclass's topology."""

    def test_inspect_active_queues_lists_the_topologys_queues_per_node(self, path: Path) -> None:
        args = ["celery", "-f", str(path), "inspect", "active_queues", "--json", "-t", "3"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        replies = json.loads(result.output.strip().splitlines()[-1])
        queues = {
            node.partition("@")[0]: sorted(q["name"] for q in answer)
            for node, answer in replies.items()
        }  # fmt: skip
        assert queues == {
            "red": ["red_queue"], "green": ["green_queue"], "blue": ["blue_queue"],
            "colorful": ["blue_queue", "green_queue", "red_queue"],
        }  # fmt: skip

    def test_a_bad_subcommand_is_celerys_message_and_no_traceback(self, path: Path) -> None:
        result = CliRunner().invoke(cli, ["celery", "-f", str(path), "inspect", "nosuch"])
        assert result.exit_code != 0
        assert "nosuch not recognized" in result.output
        assert "Traceback" not in result.output

    def test_events_opens_celerys_curses_monitor_on_a_terminal(self, path: Path) -> None:
        """The monitor draws the stack's workers; ^C quits it."""
        terminal = Terminal(f"events-{path.parent.name}", f"celery -f {path} events")
        try:
            # Celery's footer counts the workers it has heard from: all four groups'.
            drawn = terminal.wait("workers:4/4")
            assert "celery events" in drawn
            assert "Workers online: " in drawn

            # A ^C that lands while kombu is inside a broker call can be swallowed by its
            # retry; a user presses it again, and so does the test, once a second.
            def quit_monitor() -> bool:
                terminal.keys("C-c")
                time.sleep(1.0)
                return "celery events" not in terminal.screen()

            wait_for(quit_monitor, "the monitor to quit")
        finally:
            terminal.close()


class Top:
    """`stack top --once --json` on the stack of the subclass's topology."""

    @staticmethod
    def top(path: Path) -> Any:
        return json.loads(invoke("top", str(path), "--once", "--json").output)

    def test_pending_while_drained_then_done_after_add_consumer(self, path: Path) -> None:
        before = {q["name"]: q for q in self.top(path)["queues"]}
        drained = before["red_queue"]["consumers"]
        assert {n.partition("@")[0] for n in drained} == {"red", "colorful"}, drained
        nodes = ",".join(drained)
        invoke("celery", "-f", str(path), "control", "cancel_consumer", "red_queue", "-d", nodes)
        app = connect(path)
        try:
            sent = [
                app.send_task("tasks.red_task", priority=9 if i % 2 else None)
                for i in range(QUEUED)
            ]  # fmt: skip
            data = self.top(path)
            red = next(q for q in data["queues"] if q["name"] == "red_queue")
            assert red["pending"] == QUEUED, red
            assert red["consumers"] == []
            if load(path).topology.broker.type == "redis":
                assert red["by_priority"] == {"0": 4, "3": 0, "6": 0, "9": 3}, red
            group = next(g for g in data["groups"] if g["name"] == "red")
            assert (group["up"], group["desired"], group["consuming"]) == (1, 1, [])
        finally:
            invoke("celery", "-f", str(path), "control", "add_consumer", "red_queue", "-d", nodes)
        assert all(r.get(timeout=TIMEOUT).startswith(("red@", "colorful@")) for r in sent)
        red = next(q for q in self.top(path)["queues"] if q["name"] == "red_queue")
        assert red["pending"] == 0
        assert sorted(red["consumers"]) == sorted(drained)

    def test_drift_shows_a_worker_started_by_hand(self, path: Path) -> None:
        import subprocess
        import sys

        node = "byhand@host"
        script = (
            "import sys, stack; app = stack.connect(sys.argv[1]); app.worker_main(["
            f"'worker', '-P', 'solo', '-Q', 'green_queue', '-n', '{node}', "
            "'--without-mingle', '--without-gossip', '-l', 'WARNING'])"
        )
        worker = subprocess.Popen(
            [sys.executable, "-c", script, str(path)], cwd=path.parent,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:

            def drift() -> Any:
                assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
                return self.top(path)["drift"]

            assert wait_for(drift, "the hand-started worker") == [
                {"node": node, "queues": ["green_queue"]}
            ]
            green = next(q for q in self.top(path)["queues"] if q["name"] == "green_queue")
            assert node in green["consumers"]
        finally:
            worker.terminate()
            worker.communicate(timeout=30)

    def test_the_live_view_draws_refreshes_drains_on_a_confirmed_key_and_quits(
        self, path: Path
    ) -> None:
        terminal = Terminal(f"top-{path.parent.name}", f"top {path} --every 0.5")
        try:
            first = terminal.wait("worker groups")
            assert "queues" in first
            stamp = re.search(r"updated (\d\d:\d\d:\d\d)", first)
            assert stamp, first
            wait_for(lambda: stamp.group(0) not in terminal.screen(), "a refresh")
            terminal.keys("d")
            terminal.wait("drain worker group")
            terminal.keys("red", "Enter")
            terminal.wait("drain red: its workers stop taking tasks")
            terminal.keys("y", "Enter")
            terminal.wait("drained red on red@")
            red = next(g for g in self.top(path)["groups"] if g["name"] == "red")
            assert red["consuming"] == []
            terminal.keys("r")
            terminal.wait("resume worker group")
            terminal.keys("red", "Enter")
            terminal.wait("resume red:")
            terminal.keys("n", "Enter")
            terminal.wait("resume cancelled")
            assert (
                next(g for g in self.top(path)["groups"] if g["name"] == "red")["consuming"] == []
            )
            terminal.keys("r")
            terminal.wait("resume worker group")
            terminal.keys("red", "Enter")
            terminal.wait("resume red:")
            terminal.keys("y", "Enter")
            terminal.wait("resumed red on red@")
            red = next(g for g in self.top(path)["groups"] if g["name"] == "red")
            assert red["consuming"] == ["red_queue"]
            terminal.keys("q")
            wait_for(lambda: "worker groups" not in terminal.screen(), "the view to quit")
        finally:
            terminal.close()


class TestRedis(Operate, CeleryCli, Top):
    source = "topology.yaml"


class TestRabbitMQ(Operate, CeleryCli, Top):
    source = "topology-rabbitmq.yaml"
