"""What `stack routes --app` reads from the app image's run (stack.container.registered)."""

from __future__ import annotations

import pytest

from stack.deploy.ops import registered
from stack.errors import RuntimeStackError


def test_the_image_runs_answer_or_its_one_line_failure() -> None:
    """registered.py's output: its JSON line after whatever the app printed, or its
    `stack: ...` line."""
    out = 'Django says hello\n{"tasks": ["billing.tasks.charge", "celery.chord"]}\n'
    assert registered._names(out) == ["billing.tasks.charge", "celery.chord"]
    err = "warming up\nstack: Unable to load celery application 'x': the module x was not found\n"
    assert registered._failure(err, 1) == (
        "Unable to load celery application 'x': the module x was not found"
    )
    assert registered._failure("Killed\n", 137) == (
        "listing the app's tasks in its image failed (exit status 137): Killed"
    )
    with pytest.raises(RuntimeStackError, match="printed no task list"):
        registered._names("nothing\n")
