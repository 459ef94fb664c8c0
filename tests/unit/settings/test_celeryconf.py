"""A worker group's Celery settings (stack.settings.celeryconf) and the worker command beside
them: the defaults `workload` picks, ignored results, events, the transport."""

from __future__ import annotations

from typing import Any

import pytest

from stack.deploy import services as plan
from stack.errors import TopologyError
from stack.settings.celeryconf import TRANSPORT, group_settings, ignored_queues, settings
from stack.topology.load import load_string

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
def test_workload_sets_pool_concurrency_and_prefetch_unless_given(
    extra: str, pool: str, concurrency: str, prefetch: str
) -> None:
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


def test_log_level_defaults_to_info_and_follows_the_group() -> None:
    assert option(command(), "-l") == "INFO"
    assert option(command(", log_level: WARNING"), "-l") == "WARNING"


def test_a_short_workload_on_the_solo_pool_has_no_liveness_probe() -> None:
    topology, _ = group(", workload: short")
    worker = next(
        s for s in plan.services(topology, plan.images(topology, env={})) if s.name == "g"
    )  # type: ignore[arg-type]
    assert worker.healthcheck is not None
    assert "alive" not in " ".join(worker.healthcheck.test)


@pytest.mark.parametrize("extra", [", workload: fast", ", log_level: loud"])
def test_unknown_workload_or_log_level_is_an_error(extra: str) -> None:
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


IGNORING = """\
name: shop
app: tasks:app
queues: [quiet, mixed, loud, idle]
routes:
  "quiet.*": quiet
workers:
  a: {queues: [quiet, mixed], ignore_result: true}
  b: {queues: [quiet], ignore_result: true}
  c: {queues: [mixed, loud]}
"""


def test_ignored_queues_are_those_every_consumer_ignores() -> None:
    topology = load_string(IGNORING, "t.yaml").topology
    # mixed: c stores results; loud: c only; idle and the default queue: nobody consumes
    assert ignored_queues(topology) == {"quiet"}


@pytest.mark.parametrize(
    ("broker_url", "chosen"),
    [
        ("redis://:pw@redis:6379/0", TRANSPORT),
        ("rediss://:pw@redis:6380/0", TRANSPORT),
        (None, TRANSPORT),  # the topology's own Redis
        ("sentinel://:pw@s1:26379;sentinel://:pw@s2:26379", None),
        ("amqp://u:pw@rabbit:5672//", None),
    ],
)
def test_kit_transport_only_for_plain_redis_urls(
    broker_url: str | None, chosen: str | None
) -> None:
    topology, _ = group()
    conf = settings(topology, broker_url, None)  # type: ignore[arg-type]
    assert conf.get("broker_transport") == chosen


def test_topology_can_go_back_to_kombus_transport() -> None:
    topology = load_string(TEXT % "" + "celery: {broker_transport: redis}\n", "t.yaml").topology
    assert settings(topology, "redis://x", None)["broker_transport"] == "redis"


def _nothing() -> None:
    """A task body (Celery rejects lambdas)."""


def test_sends_to_ignoring_queues_ignore_results() -> None:
    from celery import Celery

    from stack.producer import configure

    topology = load_string(IGNORING, "t.yaml").topology
    app = Celery("probe", set_as_current=False)
    quiet = app.task(name="quiet.job")(_nothing)
    app.task(name="loud.job")(_nothing)
    configure(app, topology, "memory://", "cache+memory://")
    app.conf.broker_transport = None  # the in-memory transport, no Redis here
    try:
        sent = {
            "delay, routed to quiet": quiet.delay(),  # Celery's default: ignore_result=False
            "by name, routed to quiet": app.send_task("quiet.other"),
            "by name, queue=quiet": app.send_task("loud.job", queue="quiet"),
            "by name, queue=mixed": app.send_task("quiet.job", queue="mixed"),
            "by name, default queue": app.send_task("loud.job"),
            "asked for, default queue": app.send_task("loud.job", ignore_result=True),
        }
        headers = {}
        with app.connection_for_read() as conn:
            for queue in ("quiet", "mixed", "celery"):
                with conn.SimpleQueue(queue) as simple:
                    while simple.qsize():
                        message = simple.get(timeout=1)
                        headers[message.headers["id"]] = message.headers["ignore_result"]
                        message.ack()
    finally:
        app.close()
    got = {label: (result.ignored, headers[result.id]) for label, result in sent.items()}
    assert got == {
        "delay, routed to quiet": (True, True),
        "by name, routed to quiet": (True, True),
        "by name, queue=quiet": (True, True),
        "by name, queue=mixed": (None, None),
        "by name, default queue": (None, None),
        "asked for, default queue": (True, True),
    }
    assert sent["delay, routed to quiet"].get(timeout=0.1) is None  # ignored: no wait


def test_ignoring_group_workers_use_the_resultless_request() -> None:
    from celery import Celery, Task

    from stack.producer import configure

    topology = load_string(IGNORING, "t.yaml").topology

    def request_of(group: str | None, task_cls: Any = None) -> Any:
        app = Celery("probe", set_as_current=False, **({"task_cls": task_cls} if task_cls else {}))
        configure(app, topology, "memory://", "cache+memory://", group=group)
        return app.task(name="quiet.job")(_nothing).Request

    class Own(Task):  # type: ignore[misc]
        Request = "my.requests:Request"

    assert request_of("a") == "stack.container.resultless:Request"  # a ignores results
    assert request_of("c") == "celery.worker.request:Request"
    assert request_of(None) == "celery.worker.request:Request"  # a producer with a backend
    assert request_of("a", Own) == "my.requests:Request"  # the user's own stays
