"""Send the colour demo's tasks to a running stack and check which worker group ran each.

    stack up examples/colors/topology.yaml
    python examples/colors/enqueue.py [TOPOLOGY]     # default: topology.yaml beside this file

First 25 tasks of each colour, then one line per canvas primitive: its result and, for
every part, the group that ran it (the results record their worker: `result_extended`).
Exit status 1 if a task failed, gave a wrong result or ran on a group that does not
consume its queue.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import stack

HERE = Path(__file__).resolve().parent
PER_COLOUR = 25
TIMEOUT = 60.0
# Which groups may run each colour: the colour's own group, or the one on every queue.
ALLOWED = {colour: {colour, "colorful"} for colour in ("red", "green", "blue")}
# The colour of each task's queue (topology.yaml's routes). Celery's helpers go where the
# task they wrap goes; celery.accumulate wraps none, and takes the first consumed queue.
COLOUR = {
    "tasks.add": "green", "tasks.multiply": "blue", "tasks.tsum": "red",
    "tasks.red_task": "red", "tasks.green_task": "green", "tasks.blue_task": "blue",
    "tasks.green_fail": "green", "tasks.green_flaky": "green",
    "tasks.blue_on_error": "blue", "celery.accumulate": "red",
}  # fmt: skip


def parts(result: Any) -> list[Any]:
    """Every task behind a result: itself, its parents (chains, chords), a group's members."""
    found, todo, seen = [], [result], set()
    while todo:
        item = todo.pop()
        if item is None or item.id in seen:
            continue
        seen.add(item.id)
        children = getattr(item, "results", None)
        if children is None:
            found.append(item)
        else:
            todo += children
        todo.append(item.parent)
    return found


def wrong_parts(results: list[Any], follows: str | None) -> tuple[str, int]:
    """'task: groups' for every part, and how many parts ran where they should not."""
    by_task: dict[str, Counter[str]] = {}
    wrong = 0
    for item in (part for result in results for part in parts(result)):
        # A task sends its callbacks and the next step of its chain before it stores its
        # own result: wait for it before reading which worker ran it.
        item.get(timeout=TIMEOUT, propagate=False)
        name, group = str(item.name), str(item.worker).partition("@")[0]
        helper = name.startswith("celery.") and follows is not None
        colour = COLOUR.get(follows if helper and follows else name, "?")
        wrong += group not in ALLOWED.get(colour, set())
        by_task.setdefault(name.removeprefix("tasks."), Counter())[group] += 1
    text = "; ".join(f"{t}: {', '.join(sorted(g))}" for t, g in sorted(by_task.items()))
    return text, wrong


def primitives(app: Any) -> list[tuple[str, Callable[[], tuple[Any, list[Any]]], Any, str | None]]:
    """(label, send -> (value, results to check), expected value, task a helper wraps)."""
    from celery import chain, chord, chunks, group, xmap, xstarmap

    def s(name: str, *args: Any) -> Any:  # a new signature each time: sending freezes it
        return app.signature(f"tasks.{name}", args)

    def si(name: str, *args: Any) -> Any:
        return app.signature(f"tasks.{name}", args, immutable=True)

    def run(sig: Any) -> tuple[Any, list[Any]]:
        result = sig.apply_async()
        return result.get(timeout=TIMEOUT), [result]

    def link() -> tuple[Any, list[Any]]:
        callback = s("multiply", 10)
        done = callback.freeze()
        first = s("add", 2, 2).apply_async(link=callback)
        return done.get(timeout=TIMEOUT), [first, done]

    def link_error() -> tuple[Any, list[Any]]:
        errback = s("blue_on_error")
        handled = errback.freeze()
        failed = s("green_fail").apply_async(link_error=errback)
        failed.get(timeout=TIMEOUT, propagate=False)
        return handled.get(timeout=TIMEOUT) == failed.id, [failed, handled]

    def timed() -> tuple[Any, list[Any]]:
        soon = datetime.now(UTC) + timedelta(seconds=1)
        sent = [
            s("red_task").apply_async(countdown=1),
            s("blue_task").apply_async(eta=soon),
            s("green_task").apply_async(expires=TIMEOUT),
        ]
        return sum(r.get(timeout=TIMEOUT) is not None for r in sent), sent

    return [
        # label, send, expected result, the task whose queue a helper (celery.*) part takes
        ("link", link, 40, None),
        ("link_error", link_error, True, None),
        ("si", lambda: run(chain(s("add", 1, 1), si("multiply", 3, 3))), 9, None),
        ("chain", lambda: run(chain(s("add", 2, 3), s("multiply", 10))), 50, None),
        ("group", lambda: run(group(s("add", 1, 1), s("multiply", 2, 3), s("tsum", [1, 2, 3]))),
         [2, 6, 6], None),
        ("chord", lambda: run(chord((s("add", i, i) for i in range(10)), s("tsum"))), 90, None),
        ("map", lambda: run(xmap(s("tsum"), [[1, 2], [3, 4]], app=app)), [3, 7], "tasks.tsum"),
        ("starmap", lambda: run(xstarmap(s("add"), [(1, 1), (2, 2)], app=app)), [2, 4],
         "tasks.add"),
        ("chunks", lambda: run(chunks(s("add"), zip(range(6), range(6), strict=True), 2, app=app)),
         [[0, 2], [4, 6], [8, 10]], "tasks.add"),
        ("chain of chords", lambda: run(chain(
            chord([s("add", 1, 1), s("add", 2, 2)], s("tsum")),
            chord([s("multiply", 2), s("multiply", 3)], s("tsum")))), 30, None),
        ("retry", lambda: run(s("green_flaky", 2)), 2, None),
        ("countdown/eta/expires", timed, 3, None),
        ("replace", lambda: run(s("blue_fanout", 3)), [0, 2, 4], None),
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    topology = Path(argv[0]) if argv else HERE / "topology.yaml"
    app = stack.connect(topology)

    sent = {
        colour: [app.send_task(f"tasks.{colour}_task") for _ in range(PER_COLOUR)]
        for colour in ALLOWED
    }
    failures = 0
    for colour, results in sent.items():
        nodes = [r.get(timeout=TIMEOUT) for r in results]
        per_group = Counter(str(node).partition("@")[0] for node in nodes)
        wrong = {g: n for g, n in per_group.items() if g not in ALLOWED[colour]}
        verdict = f"WRONG GROUPS {wrong}" if wrong else "ok"
        print(f"{colour:6} {dict(sorted(per_group.items()))}  {verdict}")
        failures += sum(wrong.values()) + (PER_COLOUR - len(nodes))

    for label, send, expected, follows in primitives(app):
        try:
            value, results = send()
        except Exception as exc:  # a timeout or a failed part: report it, go on
            failures += 1
            print(f"{label:21} FAILED: {type(exc).__name__}: {exc}")
            continue
        where, wrong = wrong_parts(results, follows)
        failures += 0 if value == expected and not wrong else 1
        problems = ([] if value == expected else [f"expected {expected!r}"]) + (
            [f"{wrong} parts on wrong groups"] if wrong else []
        )
        verdict = ", ".join(problems) or "ok"
        print(f"{label:21} {value!s:25} {where}  {verdict}")
    print("all tasks ran on the right groups" if not failures else f"{failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
