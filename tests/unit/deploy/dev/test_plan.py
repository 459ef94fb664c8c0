"""What an edit under `stack dev` restarts, decided without Docker."""

from __future__ import annotations

from stack.deploy.dev.plan import Process, changed_files, plan_reload, syntax_errors

RED = Process("p-red-1", "red", frozenset({"tasks.py", "red_helpers.py"}))
BLUE = Process("p-blue-1", "blue", frozenset({"tasks.py"}))
BEAT = Process("p-beat-1", "beat", frozenset({"tasks.py"}))


def test_changed_files_are_the_added_removed_and_edited() -> None:
    before = {"a.py": b"1", "b.py": b"2", "c.py": b"3"}
    after = {"a.py": b"1", "b.py": b"two", "d.py": b"4"}
    assert changed_files(before, after) == {"b.py", "c.py", "d.py"}


def test_a_module_restarts_only_the_processes_that_imported_it() -> None:
    plan = plan_reload({"red_helpers.py"}, [RED, BLUE, BEAT], set())
    assert plan.restart == {"red": ["p-red-1"]}
    assert plan.because == {"red": ["red_helpers.py"]}
    assert not plan.rebuild


def test_a_shared_module_restarts_every_process_that_imported_it() -> None:
    plan = plan_reload({"tasks.py"}, [RED, BLUE, BEAT], set())
    assert set(plan.restart) == {"red", "blue", "beat"}


def test_a_module_nobody_imported_restarts_nothing() -> None:
    plan = plan_reload({"enqueue.py"}, [RED, BLUE], set())
    assert plan.restart == {}
    assert plan.unused == ["enqueue.py"]


def test_a_process_without_a_record_yet_restarts_on_any_edit() -> None:
    starting = Process("p-green-1", "green", None)
    plan = plan_reload({"enqueue.py"}, [RED, starting], set())
    assert plan.restart == {"green": ["p-green-1"]}


def test_a_file_that_is_not_python_restarts_every_process() -> None:
    plan = plan_reload({"templates/mail.txt"}, [RED, BLUE], set())
    assert plan.restart == {"red": ["p-red-1"], "blue": ["p-blue-1"]}


def test_requirements_need_a_rebuild_not_a_reload() -> None:
    plan = plan_reload({"requirements.txt", "tasks.py"}, [RED], {"requirements.txt"})
    assert plan.rebuild == ["requirements.txt"]
    assert plan.restart == {}


def test_syntax_errors_name_file_and_line() -> None:
    files = {"ok.py": b"x = 1\n", "bad.py": b"x = 1\ndef f(:\n", "data.txt": b"def ("}
    errors = syntax_errors(files, {"ok.py", "bad.py", "data.txt", "gone.py"})
    assert len(errors) == 1
    assert errors[0].startswith("bad.py:2: SyntaxError: ")
