"""The host's remote control: what it asks, and when it need not ask at all."""

from __future__ import annotations

import time

from stack.deploy.ops.control import Control
from stack.topology.load import load
from tests.helpers import COLORS


def test_no_running_worker_means_no_inspect_and_no_wait() -> None:
    """`stack ps` of a stack with no worker up: nothing to ask, so no 1 s broadcast wait
    (the broker here does not even exist)."""
    topology = load(COLORS / "topology.yaml").topology
    with Control(topology, "redis://:pw@127.0.0.1:9/0") as control:
        started = time.monotonic()
        assert control.active_queues(timeout=5.0, nodes=set()) == {}
        assert time.monotonic() - started < 0.5
