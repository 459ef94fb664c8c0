"""Why a replica is not ready, from what it wrote about itself and its logs: one line."""

from __future__ import annotations

from typing import Any

import pytest

from stack.container import phase
from stack.deploy.ops import diagnose

NOW = 1_700_000_100


def state(name: str, since: int, detail: str = "", stack: list[str] | None = None) -> str:
    """READ_STATE's output: the container's clock, the phase line, ---, the stack."""
    frames = "".join(f"{f}\n" for f in stack or [])
    return f"{NOW}\n{name}\t{since}\t{detail}\n---\n{frames}"


LAUNCH = "/opt/stack/stack/container/launch.py:48:main"
IMPORTLIB = "/usr/lib/python3.11/importlib/__init__.py:126:import_module"
SLEEPING = [LAUNCH, IMPORTLIB, "/app/djproj/settings.py:12:<module>"]
QUERYING = [
    LAUNCH, IMPORTLIB, "/app/billing/apps.py:9:ready",
    "/opt/venv/lib/python3.11/site-packages/django/db/backends/base/base.py:270:connect",
    "/opt/venv/lib/python3.11/site-packages/psycopg2/__init__.py:122:connect",
]  # fmt: skip
BANNER = " -------------- fast@ra-django-fast-1 v5.7.0\n[queues]\n"


@pytest.mark.parametrize(
    ("text", "logs", "said"),
    [
        (
            state(phase.IMPORTING, NOW - 95, stack=SLEEPING), "",
            "still importing the app for 95 s, in djproj/settings.py:12 (<module>)",
        ),
        (
            state(phase.TASK_MODULES, NOW - 40, stack=QUERYING), BANNER,
            f"blocked on the database for 40 s while {phase.TASK_MODULES}, in "
            "billing/apps.py:9 (ready), inside psycopg2/__init__.py:122 (connect)",
        ),
        (
            state(phase.BROKER_PORT, NOW - 30, "redis:6379"), "",
            "waiting for the broker at redis:6379 for 30 s: its port does not accept connections",
        ),
        (
            state(phase.STARTING, NOW - 20), BANNER
            + "[2026-12-02 10:00:00,000: ERROR/MainProcess] consumer: Cannot connect to "
            "redis://:**@redis:6379/0: Error 111 connecting to redis:6379. Connection refused.\n"
            "Trying again in 2.00 seconds... (1/100)\n",
            "waiting for the broker: Error 111 connecting to redis:6379. Connection refused",
        ),
        (
            state(phase.STARTING, NOW - 20), BANNER
            + "[2026-12-02 10:00:01,000: ERROR/MainProcess] Process 'ForkPoolWorker-2' "
            "pid:31 exited with 'signal 9 (SIGKILL)'\n",
            "a pool child process crashed: Process 'ForkPoolWorker-2' pid:31 exited with "
            "'signal 9 (SIGKILL)'",
        ),
        (
            state(phase.STARTING, NOW - 7), BANNER,
            f"{phase.STARTING} for 7 s",
        ),
        (
            None, "stack: Unable to load celery application 'proj': the module proj was "
            "not found\n",
            "Unable to load celery application 'proj': the module proj was not found",
        ),
        (None, "", None),  # an image from before phases: nothing to add
    ],
)  # fmt: skip
def test_explain_says_what_the_container_is_doing(
    text: str | None, logs: str, said: str | None
) -> None:
    assert diagnose.explain(diagnose.parse_state(text), logs) == said


class FakeDocker:
    def __init__(self, state_text: str | None, logs: str) -> None:
        self.state_text, self.logs, self.commands = state_text, logs, []

    def exec_output(self, container: Any, command: list[str]) -> str | None:
        self.commands.append(command)
        return self.state_text

    def tail(self, container: Any, lines: int = 20) -> str:
        return self.logs


def test_reason_reads_the_state_with_one_exec() -> None:
    docker = FakeDocker(state(phase.IMPORTING, NOW - 3, stack=SLEEPING), "")
    said = diagnose.reason(docker, object())  # type: ignore[arg-type]
    assert said == "still importing the app for 3 s, in djproj/settings.py:12 (<module>)"
    assert docker.commands == [diagnose.READ_STATE]
