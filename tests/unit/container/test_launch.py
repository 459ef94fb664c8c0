"""How app containers start Celery: `python -m stack.container.launch worker|beat` and the
options the kit renders for it, which Celery's own commands must accept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stack.deploy import services as plan
from stack.topology.load import load, load_string
from tests.helpers import COLORS, ROOT


def launch(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "stack.container.launch", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("args", [(), ("flower",), ("--help",)])
def test_launch_refuses_anything_but_worker_and_beat(args: tuple[str, ...]) -> None:
    done = launch(*args)
    assert done.returncode != 0
    assert "usage: python -m stack.container.launch {worker|beat}" in done.stderr
    assert "Traceback" not in done.stderr


MORE = """\
name: shop
app: tasks:app
queues: [a, b, c]
workers:
  long: {queues: [a], time_limit: 30, concurrency: 4}
  short: {queues: [b], workload: short, log_level: WARNING}
  io: {queues: [c], workload: io, embed_beat: true}
beat:
  tick: {task: tasks.tick, every: 5}
monitor: {flower: false}
"""


@pytest.mark.parametrize("source", ["colors", "more"])
def test_every_rendered_option_is_one_celery_accepts(source: str) -> None:
    """Celery's own click commands parse what the kit renders for workers and beat."""
    from celery import Celery
    from celery.bin.base import CLIContext
    from celery.bin.beat import beat
    from celery.bin.worker import worker

    if source == "colors":
        topology = load(COLORS / "topology.yaml").topology
    else:
        topology = load_string(MORE, "more.yaml").topology
    services = plan.services(topology, plan.images(topology))
    commands = {"worker": worker, "beat": beat}
    checked = 0
    for service in services:
        if service.command[: len(plan.LAUNCH)] != plan.LAUNCH:
            continue
        name, *options = service.command[len(plan.LAUNCH) :]
        obj = CLIContext(app=Celery(set_as_current=False), no_color=True, workdir=None)
        ctx = commands[name].make_context(f"celery {name}", list(options), obj=obj)
        assert ctx.params  # parsed: an unknown option or a bad value raises instead
        checked += 1
    assert checked == len(topology.workers) + 1  # every group, and beat
