"""The app by the names `celery -A` takes, found by Celery's find_app, each failure one line;
and the registered tasks as a worker sees them (python -m stack.container.registered)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

FILES = {
    # Celery's examples/next-steps: a package whose tasks come from `include`.
    "proj/__init__.py": "",
    "proj/celery.py": ("from celery import Celery\napp = Celery('proj', include=['proj.tasks'])\n"),
    "proj/tasks.py": ("from .celery import app\n\n@app.task\ndef add(x, y):\n    return x + y\n"),
    # The app made by a function, named at module level.
    "factory.py": (
        "from celery import Celery\n\ndef create_app():\n    made = Celery('made')\n"
        "    @made.task(name='made.ping')\n    def ping():\n        return 'pong'\n"
        "    return made\n\ncelery_app = create_app()\n"
    ),
    "needs_django.py": "import os\n\nimport django  # not installed\n",
    "raises.py": "x = 1\nraise RuntimeError('no config\\nat all')\n",
}

LOAD = """
import sys
from pathlib import Path
from stack.container.userapp import load_app
from stack.errors import StackError
try:
    print("app", load_app(sys.argv[1], Path(sys.argv[2])).main)
except StackError as exc:
    print("error", exc)
"""


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("apps")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def load(spec: str, app_dir: Path) -> str:
    """load_app in a process of its own, as a container runs it (each app imported once)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", LOAD, spec, str(app_dir)], capture_output=True, text=True,
        env=env, cwd=app_dir.parent, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.count("\n") == 1, done.stdout
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("spec", "found"),
    [
        ("proj", "app proj"),  # the package's celery submodule, as `celery -A proj` finds it
        ("proj.celery", "app proj"),
        ("proj.celery:app", "app proj"),
        ("factory:celery_app", "app made"),
        ("factory", "app made"),  # the module's one Celery instance
    ],
)
def test_every_form_celery_takes_finds_the_app(spec: str, found: str, app_dir: Path) -> None:
    assert load(spec, app_dir) == found


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nothere", "the module nothere was not found"),
        ("nothere.celery:app", "the module nothere was not found"),
        ("factory:nope", "module 'factory' has no attribute 'nope'"),
        (
            "needs_django",
            "while trying to load the module needs_django the following error occurred: "
            "ModuleNotFoundError: No module named 'django' (needs_django.py:3)",
        ),
        (
            "raises:app",
            "while trying to load the module raises the following error occurred: "
            "RuntimeError: no config at all (raises.py:2)",
        ),
        (
            "factory:create_app",
            "it names a function, not a Celery app: name the app it returns instead, e.g. "
            "`celery_app = create_app()` at module level and `app: module:celery_app`",
        ),
        ("proj.tasks:add", "it names a PromiseProxy, not a Celery app"),
    ],
)
def test_each_failure_is_celerys_message_on_one_line(
    spec: str, message: str, app_dir: Path
) -> None:
    assert load(spec, app_dir) == f"error Unable to load celery application {spec!r}: {message}"


def registered(app_dir: Path, spec: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    topology = tmp_path / "topology.yaml"
    topology.write_text(
        f"name: t\napp: {spec}\nqueues: [q]\nworkers:\n  w: {{queues: [q]}}\n", encoding="utf-8"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STACK_TOPOLOGY": str(topology),
        "STACK_SNAPSHOT": str(tmp_path / "none"),
        "STACK_APP_DIR": str(app_dir),
        "STACK_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("STACK_BROKER_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "stack.container.registered"], capture_output=True, text=True,
        env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip


def test_registered_lists_the_tasks_a_worker_imports_before_it_starts(
    app_dir: Path, tmp_path: Path
) -> None:
    """proj.tasks comes from `include`, which only a worker's start imports: the app alone
    registers none of it."""
    done = registered(app_dir, "proj", tmp_path)
    assert done.returncode == 0, done.stderr
    tasks = json.loads(done.stdout)["tasks"]
    assert "proj.tasks.add" in tasks
    assert all(t == "proj.tasks.add" or t.startswith("celery.") for t in tasks), tasks
    assert (tmp_path / "state" / "phase").read_text().startswith("importing the task modules")


def test_registered_fails_with_one_line(app_dir: Path, tmp_path: Path) -> None:
    done = registered(app_dir, "needs_django", tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "stack: Unable to load celery application 'needs_django': while trying to load the "
        "module needs_django the following error occurred: ModuleNotFoundError: No module "
        "named 'django' (needs_django.py:3)"
    ]
