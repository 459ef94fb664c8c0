"""`stack celery`: Celery's own CLI on an app built from the topology alone (in-memory
broker here; the integration tests run it on real stacks)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from stack.cli.main import app as cli
from stack.deploy.ops import celery_cli
from stack.producer import topology_app
from stack.topology.load import load
from tests.helpers import COLORS

LOADED = load(COLORS / "topology.yaml")


def memory_app() -> Any:
    return topology_app(LOADED, "memory://", None)


def test_the_app_has_the_topologys_queues_and_routes_and_the_users_code_is_not_imported() -> None:
    app = memory_app()
    assert {q.name for q in app.conf.task_queues} == {
        "celery", "red_queue", "green_queue", "blue_queue"
    }  # fmt: skip
    assert app.amqp.router.route({}, "tasks.red_task")["queue"].name == "red_queue"


def test_the_users_code_is_not_imported() -> None:
    # Its own process: another test may have imported the demo's tasks.py into this one.
    probe = (
        "import sys; from stack.producer import topology_app; from stack.topology.load import load;"
        f" topology_app(load({str(COLORS / 'topology.yaml')!r}), 'memory://', None).finalize();"
        " print('tasks' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_redis_urls_get_the_kits_transport() -> None:
    app = topology_app(LOADED, "redis://:pw@127.0.0.1:1/0", None)
    assert app.conf.broker_transport == "stack.container.transport:Transport"


def test_a_command_runs_on_the_given_app(capsys: pytest.CaptureFixture[str]) -> None:
    app = memory_app()
    with app.connection_for_write() as conn, conn.channel() as channel:
        for _ in range(3):
            app.send_task("tasks.red_task", connection=conn)
        assert channel.queue_declare("red_queue", passive=True).message_count == 3
    # The in-memory broker lives in this process: purge empties it for the next call.
    assert celery_cli.run(app, ["purge", "-f", "-Q", "red_queue"]) == 0
    assert "Purged 3 messages from 1 known task queue." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "No such command 'nosuch'"),
        (["inspect", "nosuch"], "Command nosuch not recognized"),
        (["purge", "--bogus"], "No such option '--bogus'"),
    ],
)
def test_celerys_own_message_and_a_non_zero_exit_for_bad_arguments(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert celery_cli.run(memory_app(), args) != 0
    captured = capsys.readouterr()
    assert message in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err


def test_the_cli_passes_everything_after_file_to_celery(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(celery_cli, "app_for", lambda path: seen.append(path) or memory_app())
    result = CliRunner().invoke(cli, ["celery", "-f", "t.yaml", "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: stack celery" in result.output
    assert "inspect" in result.output
    assert [str(p) for p in seen] == ["t.yaml"]
    result = CliRunner().invoke(cli, ["celery", "nosuch"])
    assert result.exit_code == 2
    assert "No such command 'nosuch'" in result.output
