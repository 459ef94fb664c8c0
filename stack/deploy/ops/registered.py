"""The tasks the app registers, as its workers see them: asked of the built app image.

The host imports none of the user's code: a Django project's tasks come from Django's
autodiscovery, which needs Django and the project's settings, and a package's from its
`include`, imported when a worker starts. `stack routes --app` builds the image as
`stack up` does (ops/build.py, a no-op when it exists) and runs
`python -m stack.container.registered` in it, with no network and the app containers'
environment, which imports the app exactly as a worker does.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from stack.deploy import services as plan
from stack.deploy.docker import client as docker_client
from stack.deploy.docker import labels
from stack.deploy.docker.client import Container, DockerClient, OneOff
from stack.deploy.ops import diagnose
from stack.deploy.ops.build import ensure_app_image
from stack.deploy.ops.project import from_loaded
from stack.deploy.roles import Role
from stack.errors import RuntimeStackError, StackError
from stack.topology.load import Loaded

COMMAND = ["python", "-m", "stack.container.registered"]
TIMEOUT = 120.0  # seconds: an import that takes longer is reported with where it is stuck
SERVICE = "tasks"

Status = Callable[[str], None]


def _stuck(docker: DockerClient) -> Callable[[Container], str]:
    def look(container: Container) -> str:
        return diagnose.reason(docker, container) or ""

    return look


def registered_tasks(
    loaded: Loaded, status: Status | None = None, timeout: float = TIMEOUT
) -> list[str]:
    """Every task name the app registers in its image (Celery's own celery.* included)."""
    docker = docker_client.required(
        "listing the app's tasks (asked of the app image, which imports the app as a worker does)"
    )
    project = from_loaded(loaded)
    image = ensure_app_image(docker, project, status or (lambda _text: None))
    if status is not None:
        status(f"asking {project.images.app} for the app's tasks")
    run = OneOff(
        environment=plan.app_environment(project.topology),
        labels=labels.of(project.name, SERVICE, Role.TASKS),
        timeout=timeout,
        on_timeout=_stuck(docker),
    )
    result = docker.run_once(image.id, COMMAND, run)
    if result.status is None:
        why = f": {result.note}" if result.note else ""
        raise RuntimeStackError(
            f"the app image did not list the app's tasks within {timeout:g} s{why}"
        )
    if result.status != 0:
        raise StackError(_failure(result.stderr, result.status))
    return _names(result.stdout)


def _failure(stderr: str, status: int) -> str:
    """The one line the image's run reported (registered.py prints `stack: ...`)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    told = [line.removeprefix("stack: ") for line in lines if line.startswith("stack: ")]
    if told:
        return told[-1]
    last = lines[-1].strip() if lines else "no output"
    return f"listing the app's tasks in its image failed (exit status {status}): {last}"


def _names(stdout: str) -> list[str]:
    for line in reversed(stdout.splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("tasks"), list):
            return [str(name) for name in data["tasks"]]
    raise RuntimeStackError(f"the app image printed no task list: {stdout.strip()[:200]!r}")
