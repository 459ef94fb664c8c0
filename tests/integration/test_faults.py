"""R1-R4: faults in real containers, on Redis and on RabbitMQ; not one task lost.

One stack per broker (tests/integration/apps/faults, every worker group at 0 replicas). Each
test scales its own group up, breaks something, scales the group back to 0 and checks the
tasks' own execution log. The scenarios live in faults_lib.py, shared with bench/faults.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.faults_lib import (
    FaultStack,
    broker_outage,
    broker_restart,
    killed_worker,
    scale_down,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def stack(
    request: pytest.FixtureRequest, docker_sdk: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultStack]:
    """A running faults stack on one broker; taken down (volumes and image too) at the end."""
    broker = str(request.param)
    running = FaultStack.start(broker, tmp_path_factory.mktemp(broker), docker_sdk, "t-faults")
    try:
        yield running
    finally:
        running.close()


def test_sigkilled_worker_loses_no_task(stack: FaultStack) -> None:
    """R1: acks_late + reject_on_worker_lost (the defaults): the other replica runs them."""
    figures, killed = killed_worker(stack)
    print(figures.line())
    assert killed, "the kill hit no running task: nothing was tested"
    assert figures.lost_tokens == [], figures.line()
    assert figures.completed == figures.sent


def test_sigkilled_worker_without_acks_late_loses_its_running_tasks(stack: FaultStack) -> None:
    """R1 can fail: with acks_late false the tasks running on the killed worker are gone."""
    figures, killed = killed_worker(stack, group="early")
    print(figures.line())
    assert figures.lost > 0, f"acks_late false lost nothing: {figures.line()}"
    # Exactly what the killed worker had acknowledged and was running; nothing else.
    assert set(figures.lost_tokens) <= set(killed), (figures.lost_tokens, killed)


def test_scale_down_finishes_running_tasks_within_grace(stack: FaultStack) -> None:
    """R2: `stack scale drain=1` from 4: SIGTERM, running tasks end on their node, exit 0."""
    figures, detail = scale_down(stack)
    print(figures.line())
    assert figures.lost_tokens == [], figures.line()
    running = sum(map(len, detail["running"].values()))
    assert running > 0, "no task ran on the removed replicas: nothing was tested"
    unfinished = {node: tokens for node, tokens in detail["unfinished"].items() if tokens}
    assert unfinished == {}, "tasks started on a removed replica never ended there"
    for name, stop in detail["stops"].items():
        assert stop == {"signals": ["15"], "exits": ["0"]}, f"{name} did not stop cleanly: {stop}"
    assert detail["seconds"] < detail["grace"], detail


def test_broker_restart_keeps_queued_tasks(stack: FaultStack) -> None:
    """R3: `docker restart` of the broker with 200 tasks queued and no consumer."""
    figures, detail = broker_restart(stack)
    print(figures.line())
    assert detail["before"] == figures.sent, detail
    assert detail["stop"] == {"signals": ["15"], "exits": ["0"]}, "the broker stopped uncleanly"
    assert detail["after"] == figures.sent, f"the restart dropped queued tasks: {detail}"
    assert figures.lost_tokens == [], figures.line()


def test_broker_outage_keeps_workers_alive(stack: FaultStack) -> None:
    """R4: the broker down past the liveness limit: the worker waits for it, alive, without
    a restart (Kubernetes would have killed it), and runs what is sent once it is back."""
    figures, detail = broker_outage(stack)
    print(figures.line())
    assert detail["running"], detail
    assert detail["restarts"] == 0, detail
    assert len(detail["probes"]) >= 8, detail  # the outage outlasted ALIVE_STALE
    assert set(detail["probes"]) == {0}, f"the liveness probe failed during the outage: {detail}"
    assert figures.lost_tokens == [], figures.line()
    assert figures.completed == figures.sent
