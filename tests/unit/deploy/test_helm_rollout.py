"""`stack deploy --wait/--timeout/--rollback-on-failure/--create-namespace`: what reaches
Helm's engine, and the options refused where they mean nothing. No cluster runs here: the
real engine is pointed at an API server address that refuses, and must say so in a line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stack.cli.main import app
from stack.deploy.helm_engine import Rollout
from tests.helpers import COLORS

DEMO = str(COLORS / "topology.yaml")


def test_rollout_options_follow_helms_flags() -> None:
    assert Rollout().options() == {"wait": None, "timeout": None, "rollback_on_failure": False}
    assert Rollout(wait=True, timeout=90).options() == {
        "wait": "watcher", "timeout": 90, "rollback_on_failure": False,
    }  # fmt: skip
    # As `helm upgrade --rollback-on-failure`: undoing a failure needs to wait for it.
    assert Rollout(rollback_on_failure=True).options()["wait"] == "watcher"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dry-run", "--wait"], "nothing to wait for"),
        (["--dry-run", "--rollback-on-failure"], "nothing to wait for"),
        (["--target", "swarm", "--rollback-on-failure"], "--rollback-on-failure: for the Helm"),
        (["--target", "swarm", "--create-namespace"], "--create-namespace: for the Helm"),
        (["--timeout", "0"], "--timeout"),
    ],
)
def test_options_that_mean_nothing_are_refused(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["deploy", DEMO, *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_cluster_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: none\n"
        "clusters: [{name: none, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: none, context: {cluster: none, user: none}}]\n"
        "users: [{name: none, user: {token: x}}]\n",
        encoding="utf-8",
    )
    # A process of its own: Helm's Go runtime reads the environment once, when it loads.
    done = subprocess.run(
        [sys.executable, "-m", "stack", "deploy", DEMO, "--wait", "--timeout", "5"],
        env={**os.environ, "KUBECONFIG": str(config)}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert "cluster unreachable" in line
    assert "127.0.0.1:9" in line
