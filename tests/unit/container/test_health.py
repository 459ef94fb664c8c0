"""Health files: what the probes read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def test_a_start_removes_the_ready_file_an_earlier_run_left(tmp_path: Path) -> None:
    (tmp_path / "ready").touch()  # as after a SIGKILL, in a state dir that survived it
    env = {**os.environ, "STACK_STATE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    # This start cannot get ready (no topology here): the probes must not pass meanwhile.
    run = subprocess.run(
        [sys.executable, "-m", "stack.container.launch", "worker"],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.startswith("stack: ")
    assert not (tmp_path / "ready").exists()
