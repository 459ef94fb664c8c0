"""Send the colour demo's tasks to a running stack and check which worker group ran each.

    stack up examples/colors/topology.yaml
    python examples/colors/enqueue.py [TOPOLOGY]     # default: topology.yaml beside this file

Exit status 1 if a task failed or ran on a group that does not consume its queue.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import stack

HERE = Path(__file__).resolve().parent
PER_COLOUR = 25
TIMEOUT = 60.0
# Which groups may run each colour: the colour's own group, or the one on every queue.
ALLOWED = {colour: {colour, "colorful"} for colour in ("red", "green", "blue")}


def main(argv: list[str]) -> int:
    topology = Path(argv[0]) if argv else HERE / "topology.yaml"
    app = stack.connect(topology)
    from celery import chain, chord, group

    sent = {
        colour: [app.send_task(f"tasks.{colour}_task") for _ in range(PER_COLOUR)]
        for colour in ALLOWED
    }
    pipeline = chain(app.signature("tasks.add", (2, 3)), app.signature("tasks.multiply", (10,)))
    chained = pipeline.apply_async()
    gathered = chord(group(app.signature("tasks.add", (i, i)) for i in range(10)))(
        app.signature("tasks.tsum")
    )

    failures = 0
    for colour, results in sent.items():
        nodes = [r.get(timeout=TIMEOUT) for r in results]
        per_group = Counter(str(node).partition("@")[0] for node in nodes)
        wrong = {g: n for g, n in per_group.items() if g not in ALLOWED[colour]}
        verdict = f"WRONG GROUPS {wrong}" if wrong else "ok"
        print(f"{colour:6} {dict(sorted(per_group.items()))}  {verdict}")
        failures += sum(wrong.values()) + (PER_COLOUR - len(nodes))

    for label, result, expected in (
        ("chain  (2 + 3) * 10", chained, 50),
        ("chord  sum(i + i for i < 10)", gathered, 90),
    ):
        value = result.get(timeout=TIMEOUT)
        ok = value == expected
        failures += 0 if ok else 1
        print(f"{label} = {value}  {'ok' if ok else f'expected {expected}'}")
    print("all tasks ran on the right groups" if not failures else f"{failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
