"""Worker group defaults chosen by `workload`, and what the worker command and settings get."""

from __future__ import annotations

import pytest

from stack import plan
from stack.celeryconf import group_settings, settings
from stack.errors import TopologyError
from stack.load import load_string

TEXT = """\
name: shop
app: tasks:app
queues: [q]
workers:
  g: {queues: [q]%s}
"""


def group(extra: str = "") -> tuple[object, object]:
    topology = load_string(TEXT % extra, "t.yaml").topology
    return topology, topology.workers["g"]


def command(extra: str = "") -> list[str]:
    topology, g = group(extra)
    return list(plan.worker_command("g", g, topology))  # type: ignore[arg-type]


def option(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


@pytest.mark.parametrize(
    ("extra", "pool", "concurrency", "prefetch"),
    [
        ("", "prefork", "2", "1"),  # long: the safe default, unchanged
        (", workload: short", "solo", "1", "4"),
        (", workload: io", "threads", "32", "4"),
        (", pool: threads", "threads", "16", "1"),  # an explicit pool keeps its usual size
        (", workload: io, pool: prefork", "prefork", "2", "4"),
        (", workload: short, concurrency: 3, pool: threads, prefetch_multiplier: 1",
         "threads", "3", "1"),
    ],
)  # fmt: skip
def test_workload_defaults(extra: str, pool: str, concurrency: str, prefetch: str) -> None:
    cmd = command(extra)
    assert (option(cmd, "-P"), option(cmd, "-c"), option(cmd, "--prefetch-multiplier")) == (
        pool,
        concurrency,
        prefetch,
    )
    _, g = group(extra)
    conf = group_settings(g)  # type: ignore[arg-type]
    assert conf["worker_prefetch_multiplier"] == int(prefetch)
    assert conf["worker_concurrency"] == int(concurrency)
    # At-least-once stays the default whatever the workload.
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True


def test_ignore_result_only_for_that_group() -> None:
    topology, _ = group(", ignore_result: true")
    assert settings(topology, "redis://x", "redis://y", "g")["task_ignore_result"] is True  # type: ignore[arg-type]
    assert "task_ignore_result" not in settings(topology, "redis://x", "redis://y")  # type: ignore[arg-type]
    _, plain = group()
    assert "task_ignore_result" not in group_settings(plain)  # type: ignore[arg-type]


def test_log_level() -> None:
    assert option(command(), "-l") == "INFO"
    assert option(command(", log_level: WARNING"), "-l") == "WARNING"


def test_solo_workload_has_no_liveness_probe() -> None:
    topology, _ = group(", workload: short")
    worker = next(
        s for s in plan.services(topology, plan.images(topology, env={})) if s.name == "g"
    )  # type: ignore[arg-type]
    assert worker.healthcheck is not None
    assert "alive" not in " ".join(worker.healthcheck.test)


@pytest.mark.parametrize("extra", [", workload: fast", ", log_level: loud"])
def test_bad_values_are_errors(extra: str) -> None:
    with pytest.raises(TopologyError) as info:
        load_string(TEXT % extra, "t.yaml")
    assert any(p.path.startswith("workers.g.") for p in info.value.problems)


@pytest.mark.parametrize(
    ("monitor", "worker_events", "sent_events"),
    [
        ("", True, False),  # Flower on by default: task events, no sent event per send
        ("monitor: {sent_events: true}\n", True, True),
        ("monitor: {flower: false}\n", None, None),
    ],
)
def test_events_follow_the_monitor(
    monitor: str, worker_events: bool | None, sent_events: bool | None
) -> None:
    topology = load_string(TEXT % "" + monitor, "t.yaml").topology
    conf = settings(topology, "redis://b", None)
    assert conf.get("worker_send_task_events") is worker_events
    assert conf.get("task_send_sent_event") is sent_events
