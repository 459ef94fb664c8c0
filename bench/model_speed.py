"""P4 / issue 2: validate, route and render a topology of 100, 250 and 500 queues; `stack --help`.

The shape (tests/helpers.py big_topology) scales with its queues: at 500, 200 worker groups,
1,000 routes and 50 beat entries. Prints the times of each step in a warm process and of the
commands as a user runs them (`stack validate`, `stack render`: a new process each), and the
ratio of 500 queues to 100: about 5 where the cost is linear in the topology's size, about 25
where it grows with queues x groups. Not a timed test: machines are noisy.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stack.deploy.render.write import write_all  # noqa: E402 (needs ROOT on sys.path)
from stack.settings.routes import resolve  # noqa: E402
from stack.topology import yamlio  # noqa: E402
from stack.topology.load import load, load_string  # noqa: E402
from tests.helpers import big_topology  # noqa: E402

SIZES = (100, 250, 500)
RUNS = 5
GOALS = {"stack validate": 0.3, "stack render": 0.5}  # seconds, at 500 queues


def once(path: Path, out: Path) -> dict[str, float]:
    """One pass of each step in this process: seconds."""
    t0 = time.perf_counter()
    loaded = load(path)
    t1 = time.perf_counter()
    resolve(loaded.topology)
    t2 = time.perf_counter()
    write_all(loaded, out, None)  # what `stack render` does: compose, build context, chart
    t3 = time.perf_counter()
    return {"validate": t1 - t0, "routes": t2 - t1, "render": t3 - t2}


def commands(path: Path, out: Path) -> dict[str, float]:
    """Median seconds of each command in a new process, as a user runs it."""
    stack = [sys.executable, "-m", "stack"]
    return {
        "stack validate": statistics.median(_run([*stack, "validate", str(path)])),
        "stack render": statistics.median(_run([*stack, "render", str(path), "-o", str(out)])),
    }


def sized(queues: int, tmp: Path) -> dict[str, float]:
    """Every figure for one size: the steps in a warm process (medians) and the commands."""
    app = tmp / f"q{queues}"  # the topology's directory is the app's build context
    app.mkdir()
    path = app / "topology.yaml"
    path.write_text(yamlio.dump(big_topology(queues)), encoding="utf-8")
    out = tmp / f"rendered{queues}"
    once(path, out)  # imports and lazily built validators: paid once per process
    runs = [once(path, out) for _ in range(RUNS)]
    figures = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    return {**figures, **commands(path, out)}


def measure() -> dict[str, float]:
    """Seconds at 500 queues (total: validate+routes+render, warm), `stack --help`, bare Python."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = sized(SIZES[-1], Path(tmp))
    return {
        "total": figures["validate"] + figures["routes"] + figures["render"],
        "stack validate": figures["stack validate"],
        "stack render": figures["stack render"],
        "help": statistics.median(_run([sys.executable, "-m", "stack", "--help"])),
        "python": statistics.median(_run([sys.executable, "-c", "pass"])),
    }


def _run(command: list[str], times: int = RUNS) -> list[float]:
    # This checkout's stack (cwd), and no wheelhouse to copy into the build context.
    env = {k: v for k, v in os.environ.items() if k != "STACK_WHEELHOUSE"}
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, cwd=ROOT, env=env)
        out.append(time.perf_counter() - t0)
    return out


def table(by_size: dict[int, dict[str, float]], unit: Callable[[float], str]) -> list[str]:
    first, last = by_size[SIZES[0]], by_size[SIZES[-1]]
    head = "".join(f"{f'{q} queues':>12}" for q in SIZES)
    lines = [f"  {'':<16}{head}{f'{SIZES[-1]}/{SIZES[0]}':>10}"]
    for key in first:
        cells = "".join(f"{unit(by_size[q][key]):>12}" for q in SIZES)
        lines.append(f"  {key:<16}{cells}{last[key] / first[key]:>9.1f}x")
    return lines


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        by_size = {queues: sized(queues, Path(tmp)) for queues in SIZES}
    shape = load_string(yamlio.dump(big_topology(SIZES[-1]))).topology
    print(
        f"queues {', '.join(map(str, SIZES))}; at {SIZES[-1]}: {len(shape.workers)} groups, "
        f"{len(shape.routes)} routes, {len(shape.beat)} beat entries"
    )
    print(f"steps: median of {RUNS}, warm process; commands: median of {RUNS}, new process each")
    print(f"linear in the topology's size: {SIZES[-1]}/{SIZES[0]} near {SIZES[-1] / SIZES[0]:.0f}x")
    for line in table(by_size, lambda s: f"{s * 1000:.1f} ms"):
        print(line)
    last = by_size[SIZES[-1]]
    for command, goal in GOALS.items():
        print(f"  goal {command} <= {goal} s at {SIZES[-1]} queues: {last[command] / goal:.2f}x")
    help_time = statistics.median(_run([sys.executable, "-m", "stack", "--help"]))
    base = statistics.median(_run([sys.executable, "-c", "pass"]))
    print(
        f"stack --help: {help_time:.3f} s "
        f"(python -c pass: {base:.3f} s, ratio {help_time / base:.1f}x)"
    )
    print(f"  goal 0.3 s: {help_time / 0.3:.2f}x of the budget")


if __name__ == "__main__":
    main()
