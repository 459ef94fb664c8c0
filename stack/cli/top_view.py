"""How `stack top` draws a snapshot (stack/deploy/ops/top.py): rich tables, no I/O."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.table import Column, Table

from stack.settings.deadletter import DEAD_QUEUE


def _steps(steps: dict[int, int] | None) -> str:
    """Pending per priority step, only the non-empty ones besides the base list."""
    if not steps:
        return ""
    return " ".join(f"p{step}:{n}" for step, n in sorted(steps.items()) if step and n)


def _seconds(value: float | None) -> str:
    """A duration for a column: ms below a second, "-" when unknown."""
    if value is None:
        return "-"
    if value < 0.01:
        return f"{value * 1000:.1f}ms"
    return f"{value * 1000:.0f}ms" if value < 1 else _span(value)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"


def _when(stamp: float | None, now: float) -> str:
    """A run time relative to now: "12s ago", "in 3s"; "-" for never."""
    if stamp is None:
        return "-"
    delta = stamp - now
    return f"in {_span(delta)}" if delta >= 0 else f"{_span(-delta)} ago"


KEYS = "keys: s scale, d drain, r resume, p purge, q quit"


def render(
    data: dict[str, Any],
    updated: str | None = None,
    status: str | None = None,
    now: float | None = None,
) -> Group:
    """The snapshot as tables; the live view adds the time of the snapshot, its keys and
    what the last key did."""
    now = time.time() if now is None else now
    # Short headers: the table fits 80 columns ("ans": nodes answering; "resv": prefetched).
    groups = Table("group", "up", "ans", "resv", "run", "tasks/s", "fail", "p50", "p95",
                   Column("consuming", ratio=1),
                   title=f"{data['project']}: worker groups (rates: the last minute)",
                   box=None, pad_edge=False, title_justify="left")  # fmt: skip
    for g in data["groups"]:
        drained = sorted(set(g["queues"]) - set(g["consuming"])) if g["answering"] else []
        consuming = ", ".join(g["consuming"]) + (
            f"  [yellow](drained: {', '.join(drained)})[/]" if drained else ""
        )
        up = f"{g['up']}/{g['desired']}"
        if g["up"] != g["desired"]:
            up = f"[yellow]{up}[/]"
        rate = "-" if g.get("rate") is None else f"{g['rate']:.1f}"
        failed = g.get("failed_last_minute")
        failures = "-" if failed is None else (f"[red]{failed}[/]" if failed else "0")
        groups.add_row(
            g["name"], up, str(g["answering"]), str(g["reserved"]), str(g["active"]), rate,
            failures, _seconds(g.get("p50")), _seconds(g.get("p95")), consuming,
        )  # fmt: skip
    queues = Table("queue", "pending", "by priority", "oldest", "consumers", title="queues",
                   box=None, pad_edge=False, title_justify="left")  # fmt: skip
    for q in data["queues"]:
        pending = "?" if q["pending"] is None else str(q["pending"])
        if q["pending"] and not q["consumers"]:
            pending = f"[red]{pending}[/]"  # waiting with nobody to take it
        queues.add_row(q["name"], pending, _steps(q["by_priority"]),
                       _seconds(q.get("oldest")) if q["pending"] else "-",
                       str(len(q["consumers"])))  # fmt: skip
    parts: list[Any] = []
    if updated is not None:
        parts += [f"[bold]stack top[/] {data['project']}  updated {updated}  [dim]{KEYS}[/]"]
        parts += [status or "", ""]
    parts += [groups, "", queues]
    if data.get("beat"):
        beat = Table("beat entry", "last run", "next run", title="beat", box=None,
                     pad_edge=False, title_justify="left")  # fmt: skip
        for entry in data["beat"]:
            beat.add_row(entry["entry"], _when(entry["last_run"], now),
                         _when(entry["next_run"], now))  # fmt: skip
        parts += ["", beat]
    if data.get("beat_unknown"):
        parts += ["", f"[yellow]beat's runs: unknown[/] ({data['beat_unknown']})"]
    if data.get("dead_letters"):
        dead = f"[red]dead letters: {data['dead_letters']}[/] in {DEAD_QUEUE}"
        parts += ["", f"{dead} (their worker process died max_deliveries times; `stack requeue`)"]
    if data["drift"]:
        drift = Table("node", "queues", title="[yellow]workers outside the topology[/]",
                      box=None, pad_edge=False, title_justify="left")  # fmt: skip
        for d in data["drift"]:
            drift.add_row(d["node"], ", ".join(d["queues"]))
        parts += ["", drift]
    return Group(*parts)
