"""`stack routes` must answer what Celery's own router answers."""

from __future__ import annotations

import json
import re

import pytest
from celery import Celery
from kombu import Queue

from stack.settings.routes import Resolver, named_tasks, resolve
from stack.topology.load import load, load_string
from tests.helpers import COLORS

TOPOLOGY = """\
name: shop
app: tasks:app
queues: [exact_q, glob_q, regex_q, spare]
routes:
  shop.exact: exact_q
  "shop.glob_*": glob_q
  "re:^shop\\\\.rx_[0-9]+$": regex_q
workers:
  one: {queues: [exact_q, glob_q]}
  two: {queues: [regex_q, glob_q, spare, celery]}
"""

CASES = [
    ("shop.exact", "exact_q"),
    ("shop.glob_anything", "glob_q"),
    ("shop.rx_42", "regex_q"),
    ("shop.rx_x", "celery"),  # the regex needs digits
    ("shop.unrouted", "celery"),
    ("other.exact", "celery"),
]


def plain_celery_queue(task: str) -> str:
    """The same routes written by hand, as a Celery user configures them."""
    app = Celery("plain", set_as_current=False)
    app.conf.task_queues = [Queue(q) for q in ("exact_q", "glob_q", "regex_q", "spare")]
    app.conf.task_default_queue = "celery"
    app.conf.task_routes = {
        "shop.exact": {"queue": "exact_q"},
        "shop.glob_*": {"queue": "glob_q"},
        re.compile(r"^shop\.rx_[0-9]+$"): {"queue": "regex_q"},
    }
    return str(app.amqp.router.route({}, task)["queue"].name)


@pytest.mark.parametrize(("task", "queue"), CASES)
def test_each_route_form_matches_celery(task: str, queue: str) -> None:
    resolver = Resolver(load_string(TOPOLOGY).topology)
    assert resolver.queue_of(task) == queue
    assert plain_celery_queue(task) == queue


def test_route_rows_name_consumers_and_rule() -> None:
    rows = {r.task: r for r in resolve(load_string(TOPOLOGY).topology, [t for t, _ in CASES])}
    assert rows["shop.exact"].workers == ("one",)
    assert rows["shop.glob_anything"].workers == ("one", "two")
    assert rows["shop.rx_42"].rule == "re:^shop\\.rx_[0-9]+$"
    assert rows["shop.unrouted"].rule is None
    assert rows["shop.unrouted"].workers == ("two",)


def test_first_match_wins_in_file_order_and_a_shadowed_route_warns() -> None:
    text = TOPOLOGY.replace("  shop.exact: exact_q\n", "").replace(
        '"shop.glob_*": glob_q\n', '"shop.*": glob_q\n  shop.exact: exact_q\n'
    )
    loaded = load_string(text)
    assert Resolver(loaded.topology).queue_of("shop.exact") == "glob_q"
    [warning] = loaded.warnings
    assert warning.path == "routes.shop.exact"
    assert "never used" in warning.message


def test_named_tasks_are_exact_routes_then_beat_tasks() -> None:
    t = load(COLORS / "topology.yaml").topology
    assert named_tasks(t) == [
        "tasks.red_task",
        "tasks.add",
        "tasks.multiply",
        "tasks.tsum",
        "tasks.periodic_task",
    ]


def test_colors_every_colour_reaches_its_group_and_colorful() -> None:
    t = load(COLORS / "topology.yaml").topology
    rows = {
        r.task: r for r in resolve(t, ["tasks.red_task", "tasks.green_task", "tasks.blue_task"])
    }
    assert rows["tasks.red_task"].workers == ("red", "colorful")
    assert rows["tasks.green_task"].queue == "green_queue"
    assert rows["tasks.green_task"].workers == ("green", "colorful")
    assert rows["tasks.blue_task"].queue == "blue_queue"
    assert rows["tasks.blue_task"].workers == ("blue", "colorful")


def test_as_dict_is_json_ready() -> None:
    [row] = resolve(load_string(TOPOLOGY).topology, ["shop.exact"])
    assert json.loads(json.dumps(row.as_dict()))["workers"] == ["one"]
