"""The colour demo on real containers: routing, canvas, beat, scaling, ps, send, down.

One stack per class (Redis, then RabbitMQ); each class's last test takes it down and checks
that nothing with the project's label is left.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stack.cli.main import app as cli
from stack.container import paths
from stack.errors import NotReadyError
from stack.topology.load import load
from tests.helpers import connect, invoke, labelled_resources

pytestmark = pytest.mark.docker

PER_COLOUR = 25
ALLOWED = {"red": {"red", "colorful"}, "green": {"green", "colorful"},
           "blue": {"blue", "colorful"}}  # fmt: skip
TIMEOUT = 60


def leftovers(client: Any, project: str) -> dict[str, list[str]]:
    """Every Docker resource still carrying the project's label."""
    return labelled_resources(client, f"io.stack.project={project}")


def check_colours(path: Path) -> None:
    app = connect(path)
    sent = {c: [app.send_task(f"tasks.{c}_task") for _ in range(PER_COLOUR)] for c in ALLOWED}
    for colour, results in sent.items():
        nodes = [str(r.get(timeout=TIMEOUT)) for r in results]
        groups = Counter(node.partition("@")[0] for node in nodes)
        assert len(nodes) == PER_COLOUR
        assert set(groups) <= ALLOWED[colour], f"{colour} tasks ran on {dict(groups)}"
        # Node names are GROUP@container: one container per replica of the project.
        project = load(path).topology.name
        assert all(n.partition("@")[2].startswith(f"{project}-") for n in nodes), nodes


def check_canvas(path: Path) -> None:
    from celery import chain, chord, group

    import stack

    app = stack.connect(path)
    chained = chain(app.signature("tasks.add", (2, 3)), app.signature("tasks.multiply", (10,)))
    assert chained.apply_async().get(timeout=TIMEOUT) == 50
    total = chord(group(app.signature("tasks.add", (i, i)) for i in range(10)))(
        app.signature("tasks.tsum")
    )
    assert total.get(timeout=TIMEOUT) == 90


def check_ps(path: Path) -> dict[str, Any]:
    project = load(path)
    output = invoke("ps", str(path), "--json").output
    data = json.loads(output)
    services = {s["name"]: s for s in data["services"]}
    assert set(services) >= {"redis", "red", "green", "blue", "colorful", "beat", "flower"}
    for service in services.values():
        assert service["running"] == service["desired"] >= 1, service
        # Docker's healthy, or (before its first probe, up to 30 s) the kit's own check.
        assert service["healthy"] == service["running"], service
        assert {c["health"] for c in service["containers"]} <= {"healthy", "ready"}, service
    queues = {q["name"]: q for q in data["queues"]}
    assert set(queues) == {"red_queue", "green_queue", "blue_queue", "celery"}
    assert all(isinstance(q["depth"], int) for q in queues.values()), queues
    assert "colorful@" in " ".join(queues["red_queue"]["consumers"])
    secrets_text = (project.base_dir / ".stack" / f"{project.topology.name}.secrets").read_text()
    for line in secrets_text.splitlines():
        assert line.partition("=")[2] not in output, "a secret leaked into `stack ps`"
    return data


def check_down(path: Path, docker_sdk: Any) -> None:
    name = load(path).topology.name
    output = invoke("down", str(path), "--volumes").output
    assert f"container {name}-redis-1" in output
    assert leftovers(docker_sdk, name) == {"containers": [], "networks": [], "volumes": []}
    # The app images that rebuilds replaced go too; the current one stays for the next up.
    label = f"io.stack.project={name}"
    assert docker_sdk.images.list(filters={"label": label, "dangling": True}) == []
    assert docker_sdk.images.list(filters={"label": label})


class TestRedis:
    @pytest.fixture(scope="class")
    @classmethod
    def path(cls, stack_factory: Any) -> Path:
        started = time.monotonic()
        path = stack_factory("topology.yaml", "t-colors")
        print(f"stack up (redis): {time.monotonic() - started:.1f} s")
        return path

    def test_colours_run_on_their_groups(self, path: Path) -> None:
        check_colours(path)

    def test_chain_and_chord_cross_queues(self, path: Path) -> None:
        check_canvas(path)

    def test_beat_runs_the_periodic_task_three_times_within_15s(self, path: Path) -> None:
        from stack.deploy.ops.logs import logs

        deadline = time.monotonic() + 15
        ticks: list[str] = []
        while time.monotonic() < deadline and len(ticks) < 3:
            lines = [line for _, line in logs(path, "blue")] + [
                line for _, line in logs(path, "colorful")
            ]
            ticks = [line for line in lines if "'tick from " in line and "succeeded" in line]
            time.sleep(1)
        assert len(ticks) >= 3, "beat's periodic_task did not run on blue/colorful"

    def test_a_send_is_one_broker_command_though_flower_is_on(
        self, path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No task-sent PUBLISH with every send (monitor.sent_events is off by default)."""
        import redis

        app = connect(path)
        commands: list[str] = []
        original = redis.Redis.execute_command

        def spy(client: Any, *args: Any, **options: Any) -> Any:
            commands.append(str(args[0]).upper())
            return original(client, *args, **options)

        with app.producer_or_acquire() as producer:
            app.send_task("tasks.red_task", producer=producer, ignore_result=True)  # connects
            monkeypatch.setattr(redis.Redis, "execute_command", spy)
            app.send_task("tasks.red_task", producer=producer, ignore_result=True)
        assert commands == ["LPUSH"]

    def test_beat_runs_store_no_result_but_the_same_task_sent_by_hand_does(
        self, path: Path
    ) -> None:
        from stack.deploy.ops.logs import logs

        app = connect(path)
        by_hand = app.send_task("tasks.periodic_task", queue="blue_queue")
        assert "tick from" in str(by_hand.get(timeout=TIMEOUT))
        assert app.AsyncResult(by_hand.id).state == "SUCCESS"
        pattern = re.compile(r"Task tasks\.periodic_task\[([0-9a-f-]{36})\] succeeded")
        deadline = time.monotonic() + 15
        ticks: set[str] = set()
        while time.monotonic() < deadline and len(ticks) < 2:
            lines = [line for group in ("blue", "colorful") for _, line in logs(path, group)]
            ticks = {m.group(1) for line in lines if (m := pattern.search(line))} - {by_hand.id}
            time.sleep(1)
        assert len(ticks) >= 2, "no periodic_task run by beat in the logs"
        states = {app.AsyncResult(task_id).state for task_id in ticks}
        assert states == {"PENDING"}, "beat's runs stored results nobody can read"

    def test_no_secret_in_logs(self, path: Path) -> None:
        project = load(path)
        output = invoke("logs", "-f", str(path)).output
        assert f"{project.topology.name}-red-1 | " in output  # every service's logs are there
        assert f"{project.topology.name}-flower-1 | " in output
        secrets_text = (path.parent / ".stack" / f"{project.topology.name}.secrets").read_text()
        for line in secrets_text.splitlines():
            assert line.partition("=")[2] not in output, "a secret leaked into the logs"

    def test_docker_probes_every_30s_not_every_2s(self, path: Path, docker_sdk: Any) -> None:
        """Each probe is an exec (~60 ms of engine CPU); readiness is checked by `stack up`."""
        name = load(path).topology.name
        containers = docker_sdk.containers.list(filters={"label": f"io.stack.project={name}"})
        checks = {c.name: c.attrs["Config"].get("Healthcheck") for c in containers}
        assert checks[f"{name}-red-1"], checks
        assert checks[f"{name}-redis-1"], checks
        for container, check in checks.items():
            if check:
                assert check["Interval"] == 30 * 10**9, (container, check)

    def test_up_again_changes_nothing(self, path: Path) -> None:
        from stack.deploy.ops.up import up

        result = up(path, timeout=60)
        assert not result.image_built
        assert {c.action for c in result.changes} == {"unchanged"}

    def test_an_edit_of_host_only_kit_code_leaves_every_container(
        self, path: Path, docker_sdk: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The image carries only the code that runs inside it: an edit of the CLI or of the
        deploy side is no new image and recreates nothing."""
        import shutil

        from stack.deploy import context
        from stack.deploy.ops.up import up

        name = load(path).topology.name
        before = {c.name: c.id for c in docker_sdk.containers.list(filters={"name": name})}
        kit = tmp_path / "stack"
        shutil.copytree(context.PACKAGE_DIR, kit, ignore=shutil.ignore_patterns("__pycache__"))
        for host_only in ("cli/main.py", "deploy/ops/up.py", "deploy/render/compose.py"):
            edited = kit / host_only
            edited.write_text(edited.read_text(encoding="utf-8") + "\n# edited\n", "utf-8")
        monkeypatch.setattr(context, "PACKAGE_DIR", kit)
        result = up(path, timeout=60)
        assert not result.image_built
        assert {c.action for c in result.changes} == {"unchanged"}
        after = {c.name: c.id for c in docker_sdk.containers.list(filters={"name": name})}
        assert after == before

    def test_workers_and_beat_share_one_namespace_and_a_holder_restart_recreates_them(
        self, path: Path, docker_sdk: Any
    ) -> None:
        """A holder that restarted has a new namespace; the containers still in the old
        one have no network, and the next `stack up` recreates them, and only them."""
        from stack.deploy.ops.scale import scale
        from stack.deploy.ops.up import up

        name = load(path).topology.name
        holder = docker_sdk.containers.get(f"{name}-netns-1")
        joined = {"red", "green", "blue", "colorful", "beat"}
        modes = {
            c.labels["io.stack.service"]: c.attrs["HostConfig"]["NetworkMode"]
            for c in docker_sdk.containers.list(filters={"label": f"io.stack.project={name}"})
        }
        assert {s for s, mode in modes.items() if mode == f"container:{holder.id}"} == joined
        assert modes["flower"] == modes["redis"] == name  # their own, on the project network

        scale(path, ["red=2"], timeout=60)
        holder.restart(timeout=1)
        started = time.monotonic()
        result = up(path, timeout=90)
        # Not one warm shutdown (60 s here): a container with no network can finish nothing.
        assert time.monotonic() - started < 30
        recreated = {c.container for c in result.changes if c.action == "recreated"}
        assert recreated == {f"{name}-{s}-1" for s in joined}
        assert {c.container for c in result.changes if c.action == "removed"} == {f"{name}-red-2"}
        assert {c.container for c in result.changes if c.action == "unchanged"} >= {
            f"{name}-redis-1", f"{name}-flower-1", f"{name}-netns-1"
        }  # fmt: skip
        check_colours(path)

    def test_an_edit_of_one_group_recreates_that_group_only(
        self, path: Path, docker_sdk: Any
    ) -> None:
        """The image is rebuilt (it holds the topology); the containers whose settings are
        the same keep running, on the older image; the edited group runs the new one."""
        from stack.deploy.ops.up import up

        name = load(path).topology.name
        red_before = docker_sdk.containers.get(f"{name}-red-1")
        text = path.read_text(encoding="utf-8")
        edited = text.replace("green:    {queues: [green_queue]}",
                              "green:    {queues: [green_queue], concurrency: 3}")  # fmt: skip
        assert edited != text
        path.write_text(edited, encoding="utf-8")
        result = up(path, timeout=90)
        assert result.image_built
        actions = {c.container: c.action for c in result.changes}
        assert actions.pop(f"{name}-green-1") == "recreated", actions
        assert set(actions.values()) == {"unchanged"}, actions
        red_after = docker_sdk.containers.get(f"{name}-red-1")
        assert red_after.id == red_before.id
        green = docker_sdk.containers.get(f"{name}-green-1")
        assert green.image.id != red_after.image.id  # the new image, red on the older one
        assert docker_sdk.images.get(red_after.image.id).tags == []  # kept while in use
        logs = green.logs().decode()
        assert "concurrency: 3 (prefork)" in logs, logs[-2000:]
        check_colours(path)
        again = up(path, timeout=60)
        assert {c.action for c in again.changes} == {"unchanged"}

    def test_replicas_scaled_before_up_of_an_edit_are_recreated_by_it(
        self, path: Path, docker_sdk: Any
    ) -> None:
        """`stack scale` after an edit, before `stack up`: the new replica runs the image's
        (older) settings, so the next `up` must not take it for up to date."""
        from stack.deploy.ops.scale import scale
        from stack.deploy.ops.up import up

        name = load(path).topology.name
        original = path.read_text(encoding="utf-8")
        edited = original.replace("blue:     {queues: [blue_queue]}",
                                  "blue:     {queues: [blue_queue], replicas: 2, "
                                  "time_limit: 120}")  # fmt: skip
        assert edited != original
        path.write_text(edited, encoding="utf-8")
        try:
            scale(path, ["blue=2"], timeout=90)
            result = up(path, timeout=90)
            actions = {c.container: c.action for c in result.changes}
            assert actions[f"{name}-blue-1"] == "recreated", actions
            assert actions[f"{name}-blue-2"] == "recreated", actions
        finally:
            path.write_text(original, encoding="utf-8")
        result = up(path, timeout=90)
        actions = {c.container: c.action for c in result.changes}
        assert actions[f"{name}-blue-2"] == "removed", actions

    def test_ps_all_consumers_names_a_worker_outside_the_stack(self, path: Path) -> None:
        """A worker started by hand on the host (or left from an older deployment) takes
        tasks from the stack's queues: `ps --all-consumers` shows it, plain `ps` asks only
        the stack's own workers."""
        from stack.deploy.ops.control import Control
        from stack.deploy.ops.endpoints import host_urls

        node = "outside@host"
        script = (
            "import sys, stack; app = stack.connect(sys.argv[1]); app.worker_main(["
            f"'worker', '-P', 'solo', '-Q', 'red_queue', '-n', '{node}', "
            "'--without-mingle', '--without-gossip', '-l', 'WARNING'])"
        )
        worker = subprocess.Popen(
            [sys.executable, "-c", script, str(path)], cwd=path.parent,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            broker, _ = host_urls(load(path))
            with Control(load(path).topology, broker) as control:
                deadline = time.monotonic() + TIMEOUT
                while not control.ping({node}) and time.monotonic() < deadline:
                    assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
                    time.sleep(0.2)
            every = json.loads(invoke("ps", str(path), "--json", "--all-consumers").output)
            red = next(q for q in every["queues"] if q["name"] == "red_queue")
            assert red["outside"] == [node], red
            assert node in red["consumers"]
            assert any(n.startswith("red@") for n in red["consumers"]), red
            text = invoke("ps", str(path), "--all-consumers").output
            squashed = " ".join(text.replace("│", " ").split())  # the table wraps cells
            assert f"(1 outside the stack: {node})" in squashed, text
            own = json.loads(invoke("ps", str(path), "--json").output)
            red = next(q for q in own["queues"] if q["name"] == "red_queue")
            assert red["outside"] == []
            assert node not in red["consumers"]
        finally:
            worker.terminate()
            worker.communicate(timeout=30)

    def test_scale_out_to_four_replicas_in_the_shared_namespace_and_back_to_one(
        self, path: Path, docker_sdk: Any
    ) -> None:
        from stack.deploy.ops.control import Control
        from stack.deploy.ops.endpoints import host_urls
        from stack.deploy.ops.scale import scale

        loaded = load(path)
        name = loaded.topology.name
        scale(path, ["red=4"], timeout=90)
        reds = docker_sdk.containers.list(
            filters={"label": [f"io.stack.project={name}", "io.stack.service=red"]}
        )
        assert sorted(c.name for c in reds) == [f"{name}-red-{n}" for n in range(1, 5)]
        broker, _ = host_urls(loaded)
        consumers = Control(loaded.topology, broker).active_queues(timeout=2.0)["red_queue"]
        # They share the holder's hostname: node names come from their container names.
        assert {f"red@{c.name}" for c in reds} <= set(consumers)
        holder = docker_sdk.containers.get(f"{name}-netns-1")
        assert {c.attrs["HostConfig"]["NetworkMode"] for c in reds} == {f"container:{holder.id}"}

        started = time.monotonic()
        invoke("scale", "red=1", "-f", str(path))
        assert time.monotonic() - started < 30, "warm shutdown should not need the full grace"
        left = docker_sdk.containers.list(
            all=True, filters={"label": [f"io.stack.project={name}", "io.stack.service=red"]}
        )
        assert [c.name for c in left] == [f"{name}-red-1"]

    def test_sighup_restarts_a_worker_in_place(self, path: Path, docker_sdk: Any) -> None:
        """Celery re-executes itself on SIGHUP with sys.argv: that must start the same worker
        again in the same container, not crash it into a restart by Docker."""
        from stack.deploy.ops.control import Control
        from stack.deploy.ops.endpoints import host_urls

        loaded = load(path)
        container = docker_sdk.containers.get(f"{loaded.topology.name}-green-1")
        node = f"green@{container.name}"
        restarts = container.attrs["RestartCount"]
        assert container.logs().decode().count(f"{node} ready.") == 1
        container.kill(signal="SIGHUP")
        deadline = time.monotonic() + TIMEOUT
        while container.logs().decode().count(f"{node} ready.") < 2:
            assert time.monotonic() < deadline, container.logs(tail=20).decode()
            time.sleep(0.5)
        container.reload()
        assert container.status == "running"
        assert container.attrs["RestartCount"] == restarts  # the worker restarted itself
        broker, _ = host_urls(loaded)
        with Control(loaded.topology, broker) as control:
            assert control.ping({node}, timeout=2.0) == {node}

    def test_containers_boot_from_the_image_snapshot(self, path: Path, docker_sdk: Any) -> None:
        """The image's snapshot matches its topology: no YAML parse or pydantic at start."""
        container = docker_sdk.containers.get(f"{load(path).topology.name}-red-1")
        code = (
            "import sys, stack.container.boot as b; "
            "print(b.SOURCE, 'pydantic' in sys.modules, b.app.conf.worker_concurrency)"
        )
        result = container.exec_run(["python", "-c", code])
        assert result.exit_code == 0, result.output.decode()
        assert result.output.decode().split() == ["snapshot", "False", "2"]

    def test_the_image_is_laid_out_as_container_paths_says(
        self, path: Path, docker_sdk: Any
    ) -> None:
        """The Dockerfile template took its paths and user from stack.container.paths."""
        container = docker_sdk.containers.get(f"{load(path).topology.name}-red-1")
        script = (
            f"id -u; id -g; pwd; command -v python; echo $PYTHONPATH $STACK_STATE_DIR; "
            f"stat -c %u:%g {paths.BEAT_DIR} {paths.STATE_DIR}; "
            f"test -f {paths.TOPOLOGY} && test -f {paths.SNAPSHOT} "
            f"&& test -f {paths.KIT_DIR}/stack/container/paths.py && echo files"
        )
        result = container.exec_run(["sh", "-c", script])
        assert result.exit_code == 0, result.output.decode()
        owner = f"{paths.UID}:{paths.GID}"
        assert result.output.decode().splitlines() == [
            str(paths.UID), str(paths.GID), paths.APP_DIR, f"{paths.VENV}/bin/python",
            f"{paths.KIT_DIR} {paths.STATE_DIR}", owner, owner, "files",
        ]  # fmt: skip

    def test_scale_refuses_two_beats_and_unknown_groups(self, path: Path) -> None:
        runner = CliRunner()
        beat = runner.invoke(cli, ["scale", "beat=2", "-f", str(path)])
        assert beat.exit_code == 1
        assert "beat" in beat.output
        unknown = runner.invoke(cli, ["scale", "purple=2", "-f", str(path)])
        assert unknown.exit_code == 1
        assert "red, green, blue, colorful" in unknown.output

    def test_send_waits_for_the_result_and_refuses_bad_json_args(self, path: Path) -> None:
        output = invoke(
            "send", "tasks.add", "-f", str(path), "--args", "[2, 3]", "--wait", "--json"
        ).output
        assert json.loads(output) | {"id": None} == {
            "id": None, "queue": "green_queue", "state": "SUCCESS", "result": 5,
        }  # fmt: skip
        bad = CliRunner().invoke(cli, ["send", "tasks.add", "-f", str(path), "--args", "[2,"])
        assert bad.exit_code == 1
        assert "invalid JSON" in bad.output

    def test_demo_enqueue_script_sees_every_task_on_its_group(self, path: Path) -> None:
        script = path.parent / "enqueue.py"
        done = subprocess.run(
            [sys.executable, str(script), str(path)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "all tasks ran on the right groups" in done.stdout

    def test_dockerignored_files_stay_out_and_editing_them_restarts_nothing(
        self, path: Path, docker_sdk: Any
    ) -> None:
        from stack.deploy.ops.up import up

        name = load(path).topology.name
        scratch = path.parent / "scratch"
        scratch.mkdir()
        (scratch / "data.csv").write_text("1,2\n", encoding="utf-8")
        (path.parent / ".dockerignore").write_text("# local data\nscratch/\n", encoding="utf-8")
        up(path, timeout=90)  # the new .dockerignore is itself new code: a rebuild
        red = docker_sdk.containers.get(f"{name}-red-1")
        listing = red.exec_run(["ls", paths.APP_DIR]).output.decode().split()
        assert "tasks.py" in listing
        assert "scratch" not in listing
        (scratch / "data.csv").write_text("3,4\n", encoding="utf-8")
        (scratch / "more.csv").write_text("5,6\n", encoding="utf-8")
        again = up(path, timeout=60)
        assert not again.image_built
        assert {c.action for c in again.changes} == {"unchanged"}

    def test_ps_json_shows_healthy_services_and_queue_consumers_without_secrets(
        self, path: Path
    ) -> None:
        check_ps(path)

    def test_down_after_a_holder_restart_removes_everything_fast(
        self, path: Path, docker_sdk: Any
    ) -> None:
        """Here with the network namespace holder restarted first: the workers left with no
        network are not given a warm shutdown they cannot do (60 s of grace each)."""
        name = load(path).topology.name
        docker_sdk.containers.get(f"{name}-netns-1").restart(timeout=1)
        started = time.monotonic()
        check_down(path, docker_sdk)
        assert time.monotonic() - started < 30


class TestRabbitMQ:
    @pytest.fixture(scope="class")
    @classmethod
    def path(cls, stack_factory: Any) -> Path:
        def cli_up(topology: Path) -> None:  # `stack up` through the CLI this time
            output = invoke("up", str(topology), "--timeout", "150").output
            assert "Flower: http://127.0.0.1:" in output
            assert "FLOWER_PASSWORD in " in output

        return Path(stack_factory("topology-rabbitmq.yaml", "t-rmq", cli_up))

    def test_colours_run_on_their_groups(self, path: Path) -> None:
        check_colours(path)

    def test_chain_and_chord_cross_queues(self, path: Path) -> None:
        check_canvas(path)

    def test_ps_json_shows_healthy_services_and_queue_consumers_without_secrets(
        self, path: Path
    ) -> None:
        data = check_ps(path)
        assert data["broker"].startswith("amqp://stack:**@127.0.0.1:")

    def test_down_removes_everything(self, path: Path, docker_sdk: Any) -> None:
        check_down(path, docker_sdk)


def test_broken_app_fails_fast_with_logs(stack_factory: Any, tmp_path: Path) -> None:
    """A worker that cannot import the app: NotReadyError naming it, with its log lines."""

    def broken(topology: Path) -> None:
        text = topology.read_text(encoding="utf-8").replace("app: tasks:app", "app: tasks:nope")
        text = text.replace("monitor: {flower: true}", "monitor: {flower: false}")
        topology.write_text(text, encoding="utf-8")
        from stack.deploy.ops.up import up

        started = time.monotonic()
        with pytest.raises(NotReadyError) as caught:
            up(topology, timeout=90)
        assert time.monotonic() - started < 60, "a crash loop must fail before the timeout"
        message = str(caught.value)
        assert "service '" in message
        assert "last 20 log lines" in message
        assert "nope" in message, message

    stack_factory("topology.yaml", "t-broken", broken)


def test_broker_port_taken_stops_the_apps_it_started(stack_factory: Any, docker_sdk: Any) -> None:
    """The broker cannot publish its fixed port: one error saying so, and no app container
    left running to wait for a broker that never comes (and then restart in a loop)."""
    import socket

    from stack.errors import RuntimeStackError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        def fixed_port(topology: Path) -> None:
            text = topology.read_text(encoding="utf-8")
            text = text.replace("broker: redis", f"broker: {{type: redis, port: {port}}}", 1)
            topology.write_text(text, encoding="utf-8")
            from stack.deploy.ops.up import up

            with pytest.raises(RuntimeStackError) as caught:
                up(topology, timeout=90)
            message = str(caught.value)
            assert f"127.0.0.1:{port}" in message, message
            assert "started by this run were stopped" in message, message
            name = load(topology).topology.name
            containers = docker_sdk.containers.list(
                all=True, filters={"label": f"io.stack.project={name}"}
            )
            # The network namespace holder runs nothing: it stays for the next `stack up`.
            apps = [c for c in containers if not c.name.endswith(("-redis-1", "-netns-1"))]
            assert len(apps) == 7, [c.name for c in containers]  # groups, beat, Flower, metrics
            assert all(c.status == "exited" for c in apps), [(c.name, c.status) for c in apps]

        stack_factory("topology.yaml", "t-port", fixed_port)
