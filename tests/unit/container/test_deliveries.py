"""The delivery count of a poison message, and which groups' workers count."""

from __future__ import annotations

from stack.container.deliveries import deliveries
from stack.settings.celeryconf import MAX_DELIVERIES, group_settings
from stack.settings.deadletter import HEADER
from stack.topology.model import WorkerGroup


def test_a_message_the_kit_never_redelivered_counts_one() -> None:
    assert deliveries(None) == 1
    assert deliveries({}) == 1
    assert deliveries({HEADER: 2}) == 2
    assert deliveries({HEADER: "3"}) == 3
    assert deliveries({HEADER: "x"}) == 1
    assert deliveries({HEADER: 0}) == 1


def test_only_groups_that_requeue_a_lost_task_count_deliveries() -> None:
    assert group_settings(WorkerGroup(queues=["q"]))[MAX_DELIVERIES] == 3
    assert group_settings(WorkerGroup(queues=["q"], max_deliveries=5))[MAX_DELIVERIES] == 5
    assert MAX_DELIVERIES not in group_settings(WorkerGroup(queues=["q"], acks_late=False))
    assert MAX_DELIVERIES not in group_settings(
        WorkerGroup(queues=["q"], reject_on_worker_lost=False)
    )
