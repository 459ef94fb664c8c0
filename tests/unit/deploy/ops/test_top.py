"""`stack top`'s snapshot from observed data: groups, queues by priority step, drift."""

from __future__ import annotations

import pytest

from stack.deploy.ops.top import Observed, counts, queue_names, redis_key, snapshot
from stack.topology.load import load
from tests.helpers import COLORS

TOPOLOGY = load(COLORS / "topology.yaml").topology
RED, COLORFUL = "red@colors-red-1", "colorful@colors-colorful-1"
EVERY = ["red_queue", "green_queue", "blue_queue"]


def seen(**changes: object) -> Observed:
    base: dict[str, object] = {
        "replicas": {"red": (1, 1), "green": (1, 1), "blue": (0, 1), "colorful": (1, 1)},
        "pending": {"red_queue": {0: 4, 3: 0, 6: 1, 9: 2}, "green_queue": {0: 0}},
        "queues_of": {RED: ["red_queue"], COLORFUL: EVERY},
        "reserved": {RED: 2, COLORFUL: 1},
        "active": {RED: 1},
        "own_nodes": frozenset({RED, COLORFUL}),
    }
    base.update(changes)
    return Observed(**base)  # type: ignore[arg-type]


SHOWN = {"name", "up", "desired", "answering", "queues", "consuming", "reserved", "active"}


def report(succeeded: int, failed: int, window: float, runtimes: list[float]) -> dict[str, object]:
    last = {"succeeded": succeeded, "failed": failed}
    totals = {"succeeded": succeeded + 10, "failed": failed, "retried": 0, "lost": 1}
    return {"totals": totals, "last_minute": last, "window": window, "runtimes": runtimes}


def test_a_groups_rate_failures_and_runtimes_come_from_its_nodes_last_minute() -> None:
    red2 = "red@colors-red-2"
    outcomes = {
        RED: report(50, 10, 60.0, [0.1] * 9 + [2.0]),
        red2: report(30, 0, 30.0, [0.3] * 10),  # started 30 s ago: its rate is over 30 s
        COLORFUL: {"error": "No such inspect command"},  # a worker without the kit's command
    }
    data = snapshot(TOPOLOGY, seen(
        outcomes=outcomes, own_nodes=frozenset({RED, red2, COLORFUL}),
        queues_of={RED: ["red_queue"], red2: ["red_queue"], COLORFUL: EVERY},
    ))  # fmt: skip
    groups = {g["name"]: g for g in data["groups"]}
    red = groups["red"]
    assert red["rate"] == 2.0  # 60/60 + 30/30
    assert (red["done_last_minute"], red["failed_last_minute"]) == (90, 10)
    assert (red["p50"], red["p95"]) == (0.3, 0.3)
    assert red["totals"] == {"succeeded": 100, "failed": 10, "retried": 0, "lost": 2}
    assert groups["colorful"]["rate"] is None  # it said nothing the kit can count
    assert groups["green"]["p50"] is None


def test_queues_show_the_oldest_messages_age_and_beat_its_runs() -> None:
    beat = {"tick": {"last_run": 100.0, "next_run": 110.0}, "new": {"last_run": None,
            "next_run": 200.0}}  # fmt: skip
    data = snapshot(TOPOLOGY, seen(oldest={"red_queue": 12.5, "green_queue": None}, beat=beat))
    queues = {q["name"]: q for q in data["queues"]}
    assert queues["red_queue"]["oldest"] == 12.5
    assert queues["green_queue"]["oldest"] is None
    assert data["beat"] == [
        {"entry": "new", "last_run": None, "next_run": 200.0},
        {"entry": "tick", "last_run": 100.0, "next_run": 110.0},
    ]
    assert snapshot(TOPOLOGY, seen(pending=None, oldest={"red_queue": 1.0}))["queues"][0][
        "oldest"
    ] is None  # fmt: skip
    assert snapshot(TOPOLOGY, seen())["beat"] is None


def test_pending_counts_every_priority_step() -> None:
    queues = {q["name"]: q for q in snapshot(TOPOLOGY, seen())["queues"]}
    assert queues["red_queue"]["pending"] == 7
    assert queues["red_queue"]["by_priority"] == {0: 4, 3: 0, 6: 1, 9: 2}
    assert queues["red_queue"]["consumers"] == [COLORFUL, RED]
    assert queues["red_queue"]["groups"] == ["red", "colorful"]
    assert queues["blue_queue"]["pending"] == 0  # the broker had no list for it
    assert queues["celery"]["consumers"] == []


def test_groups_show_replicas_and_what_their_answering_nodes_hold() -> None:
    groups = {g["name"]: g for g in snapshot(TOPOLOGY, seen())["groups"]}
    assert {k: v for k, v in groups["red"].items() if k in SHOWN} == {
        "name": "red", "up": 1, "desired": 1, "answering": 1, "queues": ["red_queue"],
        "consuming": ["red_queue"], "reserved": 2, "active": 1,
    }  # fmt: skip
    assert groups["blue"]["up"] == 0
    assert groups["blue"]["answering"] == 0
    assert groups["colorful"]["consuming"] == sorted(EVERY)


def test_a_drained_group_consumes_nothing_and_its_queue_has_no_consumer() -> None:
    drained = seen(queues_of={RED: [], COLORFUL: ["green_queue", "blue_queue"]})
    data = snapshot(TOPOLOGY, drained)
    assert next(g for g in data["groups"] if g["name"] == "red")["consuming"] == []
    assert next(q for q in data["queues"] if q["name"] == "red_queue")["consumers"] == []


def test_a_worker_outside_the_stack_is_drift_and_counts_for_no_group() -> None:
    data = snapshot(TOPOLOGY, seen(queues_of={RED: ["red_queue"], "red@laptop": ["red_queue"]}))
    assert data["drift"] == [{"node": "red@laptop", "queues": ["red_queue"]}]
    assert next(g for g in data["groups"] if g["name"] == "red")["answering"] == 1
    assert snapshot(TOPOLOGY, seen())["drift"] == []


def test_an_unanswering_broker_leaves_pending_unknown() -> None:
    queue = snapshot(TOPOLOGY, seen(pending=None))["queues"][0]
    assert queue["pending"] is None
    assert queue["by_priority"] is None


def test_replies_are_counted_per_node() -> None:
    assert counts({RED: [{"id": 1}, {"id": 2}], COLORFUL: None}) == {RED: 2, COLORFUL: 0}
    assert counts(None) == {}
    assert queue_names({RED: [{"name": "red_queue"}]}) == {RED: ["red_queue"]}
    assert redis_key("q", 0) == "q"
    assert redis_key("q", 9) == "q\x06\x169"


def test_the_cli_prints_one_snapshot_as_json_or_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from stack.cli.main import app as cli
    from stack.deploy.ops import top

    data = snapshot(TOPOLOGY, seen(queues_of={RED: [], "x@laptop": ["red_queue"]}))
    monkeypatch.setattr(top, "observe", lambda path: data)
    result = CliRunner().invoke(cli, ["top", "t.yaml", "--once", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["drift"] == [{"node": "x@laptop", "queues": ["red_queue"]}]
    result = CliRunner().invoke(cli, ["top", "t.yaml", "--once"])
    assert result.exit_code == 0, result.output
    assert "workers outside the topology" in result.output
    assert "(drained: red_queue)" in result.output
    assert "p6:1 p9:2" in result.output
    result = CliRunner().invoke(cli, ["top", "t.yaml", "--json"])
    assert result.exit_code == 1
    assert "--json needs --once" in result.output


def test_dead_letters_are_counted_and_shown_only_when_there_are_some() -> None:
    from stack.cli.output import out
    from stack.cli.top_view import render
    from stack.settings.deadletter import DEAD_QUEUE

    pending = {"red_queue": {0: 1}, DEAD_QUEUE: {0: 2, 9: 1}}
    data = snapshot(TOPOLOGY, seen(pending=pending))
    assert data["dead_letters"] == 3
    assert DEAD_QUEUE not in {q["name"] for q in data["queues"]}, "no row of its own"
    assert snapshot(TOPOLOGY, seen())["dead_letters"] == 0
    assert snapshot(TOPOLOGY, seen(pending=None))["dead_letters"] is None
    console = out()
    with console.capture() as captured:
        console.print(render(data))
    assert f"dead letters: 3 in {DEAD_QUEUE}" in captured.get()
    with console.capture() as captured:
        console.print(render(snapshot(TOPOLOGY, seen())))
    assert "dead letters" not in captured.get()


def test_on_swarm_replicas_come_from_the_services_and_beat_unread_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from stack.cli.output import out
    from stack.cli.top_view import render
    from stack.container import paths
    from stack.container.beatstate import STATE_FILE
    from stack.deploy.ops import top
    from stack.deploy.swarm import apply
    from stack.deploy.swarm.tasks import Replicas

    red = Replicas(running=3, desired=4, nodes=frozenset({"red@aaa", "red@bbb", "red@ccc"}))
    monkeypatch.setattr(apply, "workers", lambda project, groups: {"red": red})
    read: list[tuple[str, set[str], str]] = []

    def unreadable(project: str, services: set[str], path: str) -> tuple[None, str]:
        read.append((project, services, path))
        return None, "runs on another node than the engine's"

    monkeypatch.setattr(apply, "read_file", unreadable)
    project = SimpleNamespace(name="colors", topology=TOPOLOGY)
    engine = top._swarm(project)
    assert engine.replicas["red"] == (3, 4)
    assert engine.replicas["blue"] == (0, 1)  # no service (yet): none of the topology's up
    assert engine.own_nodes == red.nodes
    assert read == [("colors", {"beat"}, f"{paths.STATE_DIR}/{STATE_FILE}")]
    data = snapshot(TOPOLOGY, seen(beat=engine.beat, beat_unknown=engine.beat_unknown))
    assert data["beat"] is None
    assert data["beat_unknown"] == "beat runs on another node than the engine's"
    console = out()
    with console.capture() as captured:
        console.print(render(data))
    assert "beat's runs: unknown (beat runs on another node" in captured.get()
    with console.capture() as captured:
        console.print(render(snapshot(TOPOLOGY, seen())))
    assert "unknown" not in captured.get()

    text = '{"entries": {"tick": {"last_run": 1.0, "next_run": 3.0}}, "written": 2.0}'
    monkeypatch.setattr(apply, "read_file", lambda project, services, path: (text, ""))
    assert top._swarm(project).beat == {"tick": {"last_run": 1.0, "next_run": 3.0}}
    assert top._swarm(project).beat_unknown is None
    monkeypatch.setattr(apply, "read_file", lambda project, services, path: ("", ""))
    assert top._swarm(project).beat is None  # not written yet, as on Docker
    assert top._swarm(project).beat_unknown is None


def test_beat_runs_in_beats_service_or_a_group_that_embeds_it() -> None:
    from stack.deploy.ops.top import beat_entries, beat_services

    assert beat_services(TOPOLOGY) == {"beat"}
    embedded = TOPOLOGY.model_copy(update={"beat": {}, "workers": {
        **TOPOLOGY.workers, "red": TOPOLOGY.workers["red"].model_copy(update={"embed_beat": True})
    }})  # fmt: skip
    assert beat_services(embedded) == {"red"}
    assert beat_entries(None) is None
    assert beat_entries("[1]") is None
    assert beat_entries('{"entries": 3}') is None
