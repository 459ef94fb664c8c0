"""The CLI's contract: exit codes, one line per problem, JSON shapes, file discovery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stack.cli.main import app
from tests.helpers import COLORS

runner = CliRunner()
COLORS_FILE = str(COLORS / "topology.yaml")


def test_validate_prints_the_counts_of_a_valid_file() -> None:
    result = runner.invoke(app, ["validate", COLORS_FILE])
    assert result.exit_code == 0
    assert "valid: 4 queues, 4 worker groups, 7 routes, 2 beat entries, 0 warnings" in result.stdout


def test_validate_prints_one_line_per_problem_key_errors_first(write_topology) -> None:  # type: ignore[no-untyped-def]
    path = write_topology(
        "name: shop\napp: tasks:app\nqueues: [a]\nroutes: {t.x: b}\n"
        "workers:\n  w: {queues: [c], concurency: 2}\n"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"{path}:6: workers.w.concurency: error: unknown key 'concurency' (did you mean "
        "'concurrency'?)",
    ]
    fixed = path.read_text().replace("concurency", "concurrency")
    path.write_text(fixed)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"{path}:4: routes.t.x: error: queue 'b' is not declared in queues",
        f"{path}:6: workers.w.queues[0]: error: queue 'c' is not declared in queues",
    ]


def test_validate_warnings_keep_exit_zero(write_topology) -> None:  # type: ignore[no-untyped-def]
    path = write_topology(
        "name: shop\napp: tasks:app\nqueues: [a, b]\nworkers:\n  w: {queues: [a]}\n"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert f"{path}:3: queues.b: warning: no worker group consumes queue 'b'" in result.stderr


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"{tmp_path / 'nope.yaml'}: error: file not found"


def test_file_discovery_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_FILE", COLORS_FILE)
    assert runner.invoke(app, ["validate"]).exit_code == 0
    monkeypatch.delenv("STACK_FILE")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "topology.yaml: error: file not found"
    (tmp_path / "topology.yaml").write_text((COLORS / "topology.yaml").read_text())
    assert runner.invoke(app, ["validate"]).exit_code == 0


def test_routes_json_gives_each_tasks_queue_and_workers() -> None:
    result = runner.invoke(
        app, ["routes", COLORS_FILE, "tasks.red_task", "tasks.green_task", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"task": "tasks.red_task", "queue": "red_queue", "workers": ["red", "colorful"]},
        {"task": "tasks.green_task", "queue": "green_queue", "workers": ["green", "colorful"]},
    ]


def test_routes_exit_1_names_unconsumed_queue() -> None:
    result = runner.invoke(app, ["routes", COLORS_FILE, "tasks.nowhere", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)[0]["queue"] == "celery"
    assert "tasks.nowhere -> celery" in result.stderr


def test_routes_table_lists_the_consuming_workers() -> None:
    result = runner.invoke(app, ["routes", COLORS_FILE])
    assert result.exit_code == 0
    assert "red, colorful" in result.stdout


def test_schema_is_json_schema_of_the_model() -> None:
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert schema["title"] == "stack topology"
    assert {"name", "app", "workers", "routes", "beat"} <= set(schema["properties"])
    assert schema["required"] == ["name", "app"]


def test_real_entry_point_never_prints_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("name: [\n")
    result = subprocess.run(
        [sys.executable, "-m", "stack", "validate", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"{bad}:2: error: invalid YAML")


EXIT_PROBE = """
import atexit, logging, logging.handlers, sys, threading, time
from stack.cli.main import exit_now
# Buffered until logging's exit handler closes it: lost if exit handlers were skipped.
handler = logging.handlers.MemoryHandler(100, target=logging.FileHandler(sys.argv[2]))
logging.getLogger("probe").addHandler(handler)
logging.getLogger("probe").warning("logged")
atexit.register(lambda: print("exit handler ran"))
if sys.argv[3] == "thread":
    threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished"))).start()
print("output", end="")
code = sys.argv[1]
exit_now(None if code == "none" else int(code) if code.isdigit() else code)
print("not reached")
"""


@pytest.mark.parametrize(
    ("code", "thread", "status", "stdout", "stderr"),
    [
        ("none", "", 0, "outputexit handler ran\n", ""),
        ("3", "", 3, "outputexit handler ran\n", ""),
        ("no such group", "", 1, "outputexit handler ran\n", "no such group\n"),
        ("0", "thread", 0, "outputthread finished\nexit handler ran\n", ""),
    ],
)
def test_fast_exit_keeps_what_a_normal_exit_does(
    tmp_path: Path, code: str, thread: str, status: int, stdout: str, stderr: str
) -> None:
    log = tmp_path / "probe.log"
    result = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, code, str(log), thread],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (status, stdout, stderr)
    assert log.read_text() == "logged\n"


def test_routes_for_a_task_lists_the_helpers_that_follow_it() -> None:
    result = runner.invoke(app, ["routes", COLORS_FILE, "--for", "tasks.add", "--json"])
    assert result.exit_code == 0, result.output
    green = ["green", "colorful"]
    assert json.loads(result.stdout) == [
        {"task": "tasks.add", "queue": "green_queue", "workers": green},
        *({"task": h, "queue": "green_queue", "workers": green, "follows": "tasks.add"}
          for h in ("celery.map", "celery.starmap", "celery.chunks")),
    ]  # fmt: skip


def test_routes_of_a_helper_for_a_task() -> None:
    args = ["routes", COLORS_FILE, "celery.starmap", "--for", "tasks.tsum"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "follows tasks.tsum" in table.stdout
    rows = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert rows == [{"task": "celery.starmap", "queue": "red_queue",
                     "workers": ["red", "colorful"], "follows": "tasks.tsum"}]  # fmt: skip


def test_routes_lists_the_reachable_helpers_by_default() -> None:
    result = runner.invoke(app, ["routes", COLORS_FILE, "--json"])
    assert result.exit_code == 0, result.output
    helpers = {r["task"]: r for r in json.loads(result.stdout) if r["task"].startswith("celery.")}
    assert list(helpers) == ["celery.map", "celery.starmap", "celery.chunks", "celery.accumulate"]
    assert helpers["celery.map"]["queue"] is None
    assert helpers["celery.accumulate"]["queue"] == "red_queue"


def test_routes_exit_1_when_a_helper_follows_a_task_to_an_unconsumed_queue() -> None:
    result = runner.invoke(app, ["routes", COLORS_FILE, "celery.chunks", "--for", "tasks.x"])
    assert result.exit_code == 1
    assert "celery.chunks -> celery" in result.stderr
