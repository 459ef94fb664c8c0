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


def done_by(data: Any, groups: tuple[str, ...], outcome: str = "succeeded") -> int:
    """Tasks with outcome, as the groups' workers counted them since they started."""
    return sum(g["totals"].get(outcome, 0) for g in data["groups"] if g["name"] in groups)


class Top:
    """`stack top --once --json` on the stack of the subclass's topology."""

    @staticmethod
    def top(path: Path) -> Any:
        return json.loads(invoke("top", str(path), "--once", "--json").output)

    def queue(self, path: Path, name: str) -> Any:
        return next(q for q in self.top(path)["queues"] if q["name"] == name)

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
            # The kit's producer stamped them (RabbitMQ's management API shows the head's
            # stamp once it refreshed its statistics).
            red = wait_for(lambda: (q := self.queue(path, "red_queue"))["oldest"] and q, "an age")
            time.sleep(1.5)
            aged = wait_for(
                lambda: (q := self.queue(path, "red_queue"))["oldest"] >= red["oldest"] + 1 and q,
                "the age to grow",
            )
            assert aged["pending"] == QUEUED
            before = done_by(self.top(path), ("red",))
            # red alone takes them: colorful also runs beat's ticks, which would count
            red_node = next(n for n in drained if n.startswith("red@"))
            invoke("celery", "-f", str(path), "control", "add_consumer", "red_queue", "-d",
                   red_node)  # fmt: skip
            assert all(r.get(timeout=TIMEOUT).startswith("red@") for r in sent)
        finally:
            invoke("celery", "-f", str(path), "control", "add_consumer", "red_queue", "-d", nodes)
        time.sleep(0.5)  # the last result is stored before its worker counts it
        data = self.top(path)
        red = next(q for q in data["queues"] if q["name"] == "red_queue")
        assert red["pending"] == 0
        assert red["oldest"] is None
        assert sorted(red["consumers"]) == sorted(drained)
        assert done_by(data, ("red",)) == before + QUEUED
        red_group = next(g for g in data["groups"] if g["name"] == "red")
        assert red_group["rate"] > 0
        assert red_group["p50"] is not None
        assert red_group["p95"] >= red_group["p50"]

    def test_a_failing_task_counts_as_a_failure_of_its_group(self, path: Path) -> None:
        groups = ("green", "colorful")  # tasks.add's queue
        before = {k: done_by(self.top(path), groups, k) for k in ("succeeded", "failed")}
        app = connect(path)
        with pytest.raises(TypeError):
            app.send_task("tasks.add", args=["a", 1]).get(timeout=TIMEOUT)
        assert app.send_task("tasks.add", args=[1, 2]).get(timeout=TIMEOUT) == 3
        data = self.top(path)
        after = {k: done_by(data, groups, k) for k in ("succeeded", "failed")}
        assert after["failed"] == before["failed"] + 1
        assert after["succeeded"] > before["succeeded"]  # colorful runs beat's ticks too
        failed = sum(g["failed_last_minute"] for g in data["groups"] if g["name"] in groups)
        assert failed >= 1

    def test_beat_shows_each_entrys_last_and_next_run(self, path: Path) -> None:
        def beat() -> Any:
            entries = {e["entry"]: e for e in self.top(path)["beat"] or []}
            return entries if entries.get("tick", {}).get("last_run") else None

        entries = wait_for(beat, "beat's first run of tick")
        now = time.time()
        tick = entries["tick"]
        assert now - 20 < tick["last_run"] <= now + 1, tick  # every 2 s, reported each run
        assert tick["next_run"] > tick["last_run"]
        assert entries["monday"]["last_run"] is None  # a weekly cron entry has not run yet
        assert entries["monday"]["next_run"] > now

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


class Metrics:
    """The exporter's /metrics (`stack ps` names it) on the stack of the subclass's topology."""

    @staticmethod
    def scrape(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        url = json.loads(invoke("ps", str(path), "--json").output)["metrics"]
        assert url, "no metrics URL in `stack ps`"
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    @staticmethod
    def total(samples: dict[Any, float], name: str, **labels: str) -> float:
        return sum(
            value for (n, pairs), value in samples.items()
            if n == name and all(dict(pairs).get(k) == v for k, v in labels.items())
        )  # fmt: skip

    def test_metrics_count_waiting_tasks_their_age_outcomes_workers_and_beat(
        self, path: Path
    ) -> None:
        before = self.scrape(path)
        assert self.total(before, "stack_broker_up") == 1
        assert self.total(before, "stack_workers_up", group="red") == 1
        app = connect(path)
        queues = json.loads(invoke("ps", str(path), "--json").output)["queues"]
        drained = next(q for q in queues if q["name"] == "green_queue")["consumers"]
        green = next(n for n in drained if n.startswith("green@"))
        invoke("celery", "-f", str(path), "control", "cancel_consumer", "green_queue", "-d",
               ",".join(drained))  # fmt: skip
        try:
            sent = [app.send_task("tasks.add", args=[i, 1]) for i in range(4)]
            bad = app.send_task("tasks.add", args=["a", 1])

            def waiting() -> Any:
                samples = self.scrape(path)
                depth = self.total(samples, "stack_queue_messages", queue="green_queue")
                age = self.total(samples, "stack_queue_oldest_message_age_seconds",
                                 queue="green_queue")  # fmt: skip
                return depth == 5 and age >= 1 and samples

            wait_for(waiting, "5 tasks waiting in green_queue, the oldest for a second")
            # green alone takes them: colorful also runs beat's tick, which would count
            invoke("celery", "-f", str(path), "control", "add_consumer", "green_queue", "-d",
                   green)  # fmt: skip
            assert [r.get(timeout=TIMEOUT) for r in sent] == [1, 2, 3, 4]
            with pytest.raises(TypeError):
                bad.get(timeout=TIMEOUT)
        finally:
            invoke("celery", "-f", str(path), "control", "add_consumer", "green_queue", "-d",
                   ",".join(drained))  # fmt: skip
        time.sleep(0.5)  # the last result is stored before its worker counts it
        after = self.scrape(path)
        for outcome, n in (("succeeded", 4), ("failed", 1)):
            grew = self.total(after, "stack_tasks_total", group="green", outcome=outcome) - (
                self.total(before, "stack_tasks_total", group="green", outcome=outcome)
            )
            assert grew == n, outcome
        assert self.total(after, "stack_queue_messages", queue="green_queue") == 0
        runtimes = {
            dict(pairs)["group"] for (n, pairs) in after if n == "stack_task_runtime_seconds"
        }
        assert "green" in runtimes

        def ticked() -> Any:
            samples = self.scrape(path)
            last = self.total(samples, "stack_beat_last_run_timestamp_seconds", entry="tick")
            return last > time.time() - 20 and samples

        samples = wait_for(ticked, "beat's report of tick")
        assert self.total(samples, "stack_beat_next_run_timestamp_seconds", entry="monday") > (
            time.time()
        )


class TestRedis(Operate, CeleryCli, Top, Metrics):
    source = "topology.yaml"


class TestRabbitMQ(Operate, CeleryCli, Top, Metrics):
    source = "topology-rabbitmq.yaml"
