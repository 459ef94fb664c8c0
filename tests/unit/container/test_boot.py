"""stack.container.boot, imported as a container imports it: the app configured from the
image's snapshot (no pydantic) or else from the topology, and an unknown group refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stack.settings import snapshot
from tests.helpers import COLORS


def boot(tmp_path: Path, snapshot_path: Path, group: str) -> list[str]:
    """Import stack.container.boot as a container does; what it used and what it configured."""
    env = {
        **os.environ,
        "STACK_TOPOLOGY": str(COLORS / "topology.yaml"),
        "STACK_SNAPSHOT": str(snapshot_path),
        "STACK_APP_DIR": str(COLORS),
        "STACK_BROKER_URL": "memory://",  # no broker to wait for
        "STACK_GROUP": group,
    }
    code = (
        "import sys, stack.container.boot as b; c = b.app.conf; "
        "print(b.SOURCE, 'pydantic' in sys.modules, c.worker_prefetch_multiplier, "
        "c.task_routes[1]['tasks.red_task']['queue'], sorted(c.beat_schedule), c.broker_url)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return done.stdout.split(maxsplit=2)


def test_a_container_boots_from_the_snapshot_without_pydantic(tmp_path: Path) -> None:
    out = tmp_path / "topology.snapshot"
    snapshot.write(COLORS / "topology.yaml", out)
    fast = boot(tmp_path, out, "red")
    slow = boot(tmp_path, tmp_path / "absent", "red")
    assert fast[:2] == ["snapshot", "False"]
    assert slow[:2] == ["topology", "True"]
    assert fast[2] == slow[2]  # the same settings either way
    assert fast[2].startswith("1 red_queue ['monday', 'tick'] memory://")


def test_a_container_of_an_unknown_group_exits_with_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "STACK_TOPOLOGY": str(COLORS / "topology.yaml"),
        "STACK_SNAPSHOT": str(tmp_path / "absent"),
        "STACK_APP_DIR": str(COLORS),
        "STACK_BROKER_URL": "memory://",
        "STACK_GROUP": "purple",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import stack.container.boot"], env=env, cwd=tmp_path,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"stack: STACK_GROUP='purple' is not a worker group of {COLORS / 'topology.yaml'}"
    ]
