"""Loading and validating topology files: every error and warning, located by line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.errors import TopologyError
from stack.topology.load import load, load_string
from tests.helpers import COLORS

BASE = """\
name: shop
app: tasks:app
queues: [fast, slow]
routes:
  tasks.quick: fast
workers:
  a: {queues: [fast, slow]}
"""


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(TopologyError) as info:
        load_string(text, "t.yaml")
    return [(p.line, p.path, p.message) for p in info.value.problems]


def test_colors_example_is_valid_without_warnings() -> None:
    loaded = load(COLORS / "topology.yaml")
    assert loaded.warnings == []
    t = loaded.topology
    assert list(t.workers) == ["red", "green", "blue", "colorful"]
    assert t.workers["colorful"].queues == ["red_queue", "green_queue", "blue_queue"]
    assert t.beat["tick"].every == 2.0
    assert t.all_queues == ["red_queue", "green_queue", "blue_queue", "celery"]


def test_minimal_topology_gets_the_defaults() -> None:
    t = load_string(BASE).topology
    assert t.broker.type == "redis"
    assert t.backend.type == "redis"
    assert t.default_queue == "celery"
    assert t.bind == "127.0.0.1"
    assert t.monitor.flower is True


def test_route_to_undeclared_queue_is_an_error_with_line() -> None:
    text = BASE.replace("tasks.quick: fast", "tasks.quick: fats")
    assert problems(text) == [
        (5, "routes.tasks.quick", "queue 'fats' is not declared in queues (did you mean 'fast'?)")
    ]


def test_worker_on_undeclared_queue_is_an_error_with_index() -> None:
    text = BASE.replace("a: {queues: [fast, slow]}", "a: {queues: [fast, nope]}")
    [(line, path, message)] = problems(text)
    assert (line, path) == (7, "workers.a.queues[1]")
    assert "queue 'nope' is not declared" in message


def test_all_problems_are_reported_at_once() -> None:
    text = BASE.replace("tasks.quick: fast", "tasks.quick: x1").replace("[fast, slow]}", "[y2]}")
    found = problems(text)
    assert [p[1] for p in found] == ["routes.tasks.quick", "workers.a.queues[0]"]


def test_field_errors_are_all_reported_with_lines() -> None:
    text = BASE + "  b: {queues: [fast], replicas: many, concurrency: 0}\n"
    found = problems(text)
    assert [(line, path) for line, path, _ in found] == [
        (8, "workers.b.replicas"),
        (8, "workers.b.concurrency"),
    ]
    assert "valid integer" in found[0][2]
    assert "greater than or equal to 1" in found[1][2]


def test_duplicate_key_is_an_error() -> None:
    text = BASE + "  a: {queues: [slow]}\n"
    assert problems(text) == [(8, "workers.a", "duplicate key 'a'")]


def test_duplicate_queue_in_list_is_an_error() -> None:
    found = problems(BASE.replace("[fast, slow]\n", "[fast, slow, fast]\n"))
    assert found == [(3, "queues", "queue declared twice: fast")]


def test_queue_listed_twice_in_a_group_is_an_error() -> None:
    [(line, path, message)] = problems(BASE.replace("[fast, slow]}", "[fast, fast]}"))
    assert (line, path, message) == (7, "workers.a.queues", "queue listed twice: fast")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("Red", "should match pattern"), ("a_b", "should match pattern"), ("beat", "reserved")],
)
def test_invalid_or_reserved_group_names_are_errors(name: str, fragment: str) -> None:
    [(line, path, message)] = problems(BASE.replace("  a: {", f"  {name}: {{"))
    assert line == 7
    assert path.startswith("workers")
    assert fragment in message


def test_invalid_project_name_is_an_error() -> None:
    [(line, path, message)] = problems(BASE.replace("name: shop", "name: Shop Floor"))
    assert (line, path) == (1, "name")
    assert "pattern" in message


def test_unknown_key_suggests_the_close_one() -> None:
    text = BASE.replace("a: {queues: [fast, slow]}", "a: {queues: [fast], concurency: 3}")
    assert problems(text) == [
        (7, "workers.a.concurency", "unknown key 'concurency' (did you mean 'concurrency'?)")
    ]


def test_unknown_top_level_key_suggests_the_close_one() -> None:
    assert problems(BASE + "wokers: {}\n") == [
        (8, "wokers", "unknown key 'wokers' (did you mean 'workers'?)")
    ]


def test_missing_required_key_is_an_error() -> None:
    assert problems("name: shop\n") == [(1, "app", "required key is missing")]


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("{task: t.x, cron: '61 * * * *'}", "invalid cron '61 * * * *'"),
        ("{task: t.x, cron: '* * *'}", "expected 5 fields"),
        ("{task: t.x, every: 5 minutes}", "invalid interval"),
        ("{task: t.x, every: -3}", "interval must be positive"),
        ("{task: t.x}", "exactly one of 'every' and 'cron'"),
        ("{task: t.x, every: 3, cron: '* * * * *'}", "exactly one of 'every' and 'cron'"),
    ],
)
def test_bad_beat_schedules_are_errors_at_their_line(entry: str, fragment: str) -> None:
    [(line, path, message)] = problems(BASE + f"beat:\n  job: {entry}\n")
    assert line == 9
    assert path.startswith("beat.job")
    assert fragment in message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(2, 2.0), ("90", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25)],
)
def test_intervals_parse_to_seconds(value: object, seconds: float) -> None:
    text = BASE + f"beat:\n  job: {{task: tasks.quick, every: {value!r}}}\n"
    assert load_string(text).topology.beat["job"].every == seconds


def test_bad_yaml_is_one_located_error() -> None:
    assert problems("name: [unclosed\n") == [
        (2, "", "invalid YAML: did not find expected ',' or ']'")
    ]


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_a_document_that_is_not_a_mapping_is_an_error(text: str) -> None:
    [(_, _, message)] = problems(text)
    assert message.startswith("a topology is a mapping of keys")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as info:
        load(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: file not found"


def test_invalid_regex_route_is_an_error() -> None:
    [(line, path, message)] = problems(BASE.replace("tasks.quick: fast", "'re:tasks(': fast"))
    assert (line, path) == (5, "routes.re:tasks(")
    assert message.startswith("invalid regular expression")


def test_broker_takes_a_shorthand_or_a_url_and_refuses_others() -> None:
    t = load_string(BASE + "broker: rabbitmq\nbackend: none\n").topology
    assert (t.broker.type, t.backend.type) == ("rabbitmq", "none")
    t = load_string(BASE + "broker: 'redis://cache:6379/0'\n").topology
    assert (t.broker.type, t.broker.url) == ("url", "redis://cache:6379/0")
    [(_, path, message)] = problems(BASE + "broker: kafka\n")
    assert path == "broker"
    assert "expected 'redis', 'rabbitmq' or a URL" in message


# --- warnings ---------------------------------------------------------------------------


def warnings(text: str) -> list[tuple[int | None, str, str]]:
    loaded = load_string(text, "t.yaml")
    assert all(w.severity == "warning" for w in loaded.warnings)
    return [(w.line, w.path, w.message) for w in loaded.warnings]


def test_queue_nobody_consumes_warns() -> None:
    text = BASE.replace("[fast, slow]}", "[fast]}")
    assert warnings(text) == [(3, "queues.slow", "no worker group consumes queue 'slow'")]


def test_queues_of_a_group_with_zero_replicas_warn_as_unconsumed() -> None:
    text = BASE.replace("[fast, slow]}", "[fast, slow], replicas: 0}")
    found = warnings(text)
    assert (3, "queues.fast", "no worker group consumes queue 'fast'") in found


def test_route_to_default_queue_nobody_consumes_warns() -> None:
    text = BASE.replace("tasks.quick: fast", "tasks.quick: fast\n  tasks.other: celery")
    assert warnings(text) == [
        (6, "routes.tasks.other", "routes to 'celery', which no worker consumes")
    ]


def test_beat_task_on_unconsumed_default_queue_warns() -> None:
    text = BASE + "beat:\n  tick: {task: tasks.unrouted, every: 5}\n"
    assert warnings(text) == [
        (9, "beat.tick.task", "tasks.unrouted lands on 'celery', which no worker consumes")
    ]


def test_beat_task_without_route_goes_to_default_queue_warns() -> None:
    text = BASE.replace("[fast, slow]}", "[fast, slow, celery]}")
    text += "beat:\n  tick: {task: tasks.unrouted, every: 5}\n"
    assert warnings(text) == [
        (
            9,
            "beat.tick.task",
            "no route matches tasks.unrouted: it goes to the default queue 'celery'",
        )
    ]


def test_routed_beat_task_does_not_warn() -> None:
    assert warnings(BASE + "beat:\n  tick: {task: tasks.quick, every: 5}\n") == []


def test_two_beats_warn() -> None:
    text = BASE.replace("[fast, slow]}", "[fast, slow], embed_beat: true}")
    text += "beat:\n  tick: {task: tasks.quick, every: 5}\n"
    [(line, path, message)] = warnings(text)
    assert (line, path) == (7, "workers.a.embed_beat")
    assert "two beat schedulers" in message


def test_embedded_beat_in_many_replicas_warns() -> None:
    text = BASE.replace("[fast, slow]}", "[fast, slow], embed_beat: true, replicas: 3}")
    [(_, _, message)] = warnings(text)
    assert "every periodic task runs 3 times" in message


def test_time_limit_beyond_visibility_timeout_warns() -> None:
    text = BASE.replace("[fast, slow]}", "[fast, slow], time_limit: 7200}")
    [(line, path, message)] = warnings(text)
    assert (line, path) == (7, "workers.a.time_limit")
    assert "visibility_timeout (3600 s)" in message
    raised = text + "broker: {type: redis, visibility_timeout: 10000}\n"
    assert warnings(raised) == []


def test_time_limit_beyond_rabbitmq_consumer_timeout_warns() -> None:
    text = BASE.replace("[fast, slow]}", "[fast, slow], time_limit: 3600}") + "broker: rabbitmq\n"
    [(_, _, message)] = warnings(text)
    assert "consumer_timeout (1800 s)" in message


def test_discover_prefers_the_given_file_then_stack_file_then_topology_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stack.topology.load import discover

    monkeypatch.delenv("STACK_FILE", raising=False)
    assert discover(None) == Path("topology.yaml")
    monkeypatch.setenv("STACK_FILE", str(tmp_path / "x.yaml"))
    assert discover(None) == tmp_path / "x.yaml"
    assert discover("given.yaml") == Path("given.yaml")


def test_runtime_commands_load_without_what_needs_celery_but_not_without_errors(
    tmp_path: Path,
) -> None:
    """scale, ps, logs and down show no warnings and run no schedule: they skip the trap
    checks (Celery's router) and Celery's parse of cron expressions, not the errors."""
    import subprocess
    import sys

    file = tmp_path / "topology.yaml"
    file.write_text(BASE.replace("[fast, slow]}", "[fast]}"), encoding="utf-8")
    assert load(file).warnings
    assert load(file, full=False).warnings == []
    for text in (
        BASE.replace("tasks.quick: fast", "tasks.quick: fats"),
        BASE + "beat:\n  job: {task: tasks.quick, cron: '* * *'}\n",  # three fields
    ):
        file.write_text(text, encoding="utf-8")
        with pytest.raises(TopologyError):
            load(file, full=False)
    # A cron only Celery's parser rejects: an error for a full load only.
    file.write_text(BASE + "beat:\n  job: {task: tasks.quick, cron: '61 * * * *'}\n")
    with pytest.raises(TopologyError, match="invalid cron"):
        load(file)
    assert load(file, full=False).topology.beat["job"].cron == "61 * * * *"
    # ... so that a runtime command's load imports no Celery at all.
    code = f"import sys; from stack.topology.load import load; load({str(file)!r}, full=False); "
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] == 'celery'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_route_for_a_helper_that_follows_its_task_warns() -> None:
    text = BASE.replace("tasks.quick: fast", "tasks.quick: fast\n  celery.starmap: slow")
    assert warnings(text) == [
        (6, "routes.celery.starmap", "never used: celery.starmap goes where the task it "
         "wraps goes (stack routes --for TASK)"),
    ]  # fmt: skip


def test_helpers_that_wrap_no_task_on_an_unconsumed_queue_warn_at_the_default_queue() -> None:
    text = BASE.replace("[fast, slow]}", "[fast, slow], replicas: 0}")
    text = "default_queue: celery\nbackend: db+sqlite:///r.db\n" + text
    text += "beat:\n  tick: {task: tasks.quick, every: 5}\n"
    helper = [w for w in warnings(text) if w[1] == "default_queue"]
    assert helper == [
        (1, "default_queue", f"Celery's {name} (sent by {sender}) lands on 'fast', which no "
         "worker consumes")
        for name, sender in [
            ("celery.chord_unlock", "a chord, on a backend without chords of its own"),
            ("celery.accumulate", "Task.replace() with a group"),
            ("celery.backend_cleanup", "beat, daily, as the backend does not expire results"),
        ]
    ]  # fmt: skip


def test_helpers_on_a_consumed_fallback_queue_do_not_warn() -> None:
    text = "backend: db+sqlite:///r.db\n" + BASE
    assert warnings(text) == []  # the default queue has no consumer: they take `fast`


def test_task_routes_under_celery_warns_that_it_replaces_the_kits_routes() -> None:
    text = BASE + "celery:\n  task_routes: {tasks.quick: slow}\n"
    [(line, path, message)] = warnings(text)
    assert (line, path) == (9, "celery.task_routes")
    assert message.startswith("replaces the topology's routes and the kit's router")
