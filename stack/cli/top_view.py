"""How `stack top` draws a snapshot (stack/deploy/ops/top.py): rich tables, no I/O."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

from stack.settings.deadletter import DEAD_QUEUE


def _steps(steps: dict[int, int] | None) -> str:
    """Pending per priority step, only the non-empty ones besides the base list."""
    if not steps:
        return ""
    return " ".join(f"p{step}:{n}" for step, n in sorted(steps.items()) if step and n)


KEYS = "keys: s scale, d drain, r resume, p purge, q quit"


def render(data: dict[str, Any], updated: str | None = None, status: str | None = None) -> Group:
    """The snapshot as tables; the live view adds the time of the snapshot, its keys and
    what the last key did."""
    groups = Table("group", "up/desired", "answering", "reserved", "running", "consuming",
                   title=f"{data['project']}: worker groups", box=None, pad_edge=False,
                   title_justify="left")  # fmt: skip
    for g in data["groups"]:
        drained = sorted(set(g["queues"]) - set(g["consuming"])) if g["answering"] else []
        consuming = ", ".join(g["consuming"]) + (
            f"  [yellow](drained: {', '.join(drained)})[/]" if drained else ""
        )
        up = f"{g['up']}/{g['desired']}"
        if g["up"] != g["desired"]:
            up = f"[yellow]{up}[/]"
        groups.add_row(
            g["name"], up, str(g["answering"]), str(g["reserved"]), str(g["active"]), consuming
        )
    queues = Table("queue", "pending", "by priority", "consumers", title="queues", box=None,
                   pad_edge=False, title_justify="left")  # fmt: skip
    for q in data["queues"]:
        pending = "?" if q["pending"] is None else str(q["pending"])
        if q["pending"] and not q["consumers"]:
            pending = f"[red]{pending}[/]"  # waiting with nobody to take it
        queues.add_row(q["name"], pending, _steps(q["by_priority"]), str(len(q["consumers"])))
    parts: list[Any] = []
    if updated is not None:
        parts += [f"[bold]stack top[/] {data['project']}  updated {updated}  [dim]{KEYS}[/]"]
        parts += [status or "", ""]
    parts += [groups, "", queues]
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
