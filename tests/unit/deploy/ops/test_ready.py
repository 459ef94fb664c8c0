"""How `stack up` waits for workers to be ready: the window each ping gets."""

from __future__ import annotations

import pytest

from stack.topology.load import load
from tests.helpers import COLORS


def test_ping_window_starts_short_and_widens_while_nobody_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reply that comes after its ping's window is lost: a window that never grew would
    wait forever on a loaded host or a distant broker."""
    from types import SimpleNamespace

    from stack.deploy.ops import ready

    clock = [100.0]
    monkeypatch.setattr(ready.time, "monotonic", lambda: clock[0])
    project = SimpleNamespace(topology=load(COLORS / "topology.yaml").topology)
    readiness = ready.Readiness(docker=None, project=project, console=None)  # type: ignore[arg-type]
    assert readiness._ping_window() == pytest.approx(ready.PING_TIMEOUT)
    clock[0] += 4.0  # seconds of booting workers: still snappy
    assert readiness._ping_window() == pytest.approx(ready.PING_TIMEOUT)
    clock[0] += 10.0
    assert 0.3 < readiness._ping_window() < ready.PING_WINDOW_MAX
    clock[0] += 600.0
    assert readiness._ping_window() == ready.PING_WINDOW_MAX
