"""P4 / issue 2: validate, route and render a 500-queue, 200-group topology; `stack --help`.

Prints times and ratios to the 1 s and 0.3 s goals. Not a timed test: machines are noisy.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stack.deploy import services as plan
from stack.deploy.render import compose
from stack.settings.routes import resolve
from stack.topology import yamlio
from stack.topology.load import load


def big_topology(queues: int = 500, groups: int = 200) -> dict[str, object]:
    names = [f"q{i:03d}" for i in range(queues)]
    routes: dict[str, str] = {}
    for i, name in enumerate(names):
        routes[f"app.exact_{i}"] = name
        routes[f"app.glob_{i}_*"] = name
    return {
        "name": "big",
        "app": "app:app",
        "queues": names,
        "routes": routes,
        "workers": {
            f"g{g:03d}": {"queues": names[g * 5 % queues : g * 5 % queues + 5], "replicas": 2}
            for g in range(groups)
        },
        "beat": {f"b{i}": {"task": f"app.exact_{i}", "every": "1m"} for i in range(50)},
    }


def once(path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    loaded = load(path)
    t1 = time.perf_counter()
    resolve(loaded.topology)
    t2 = time.perf_counter()
    yamlio.dump(compose.render(loaded.topology, plan.images(loaded.topology, env={})))
    t3 = time.perf_counter()
    return {"validate": t1 - t0, "routes": t2 - t1, "render": t3 - t2, "total": t3 - t0}


def measure() -> dict[str, float]:
    """Median seconds: validate+route+render of the big topology, `stack --help`, bare Python."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "topology.yaml"
        path.write_text(yamlio.dump(big_topology()), encoding="utf-8")
        runs = [once(path) for _ in range(5)]
    return {
        "total": statistics.median(r["total"] for r in runs),
        "help": statistics.median(_run([sys.executable, "-m", "stack", "--help"])),
        "python": statistics.median(_run([sys.executable, "-c", "pass"])),
    }


def _run(command: list[str], times: int = 5) -> list[float]:
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "topology.yaml"
        path.write_text(yamlio.dump(big_topology()), encoding="utf-8")
        runs = [once(path) for _ in range(5)]
    print("500 queues, 200 groups, 1000 routes, 50 beat entries (median of 5, warm process)")
    for key in ("validate", "routes", "render", "total"):
        value = statistics.median(r[key] for r in runs)
        print(f"  {key:<9} {value * 1000:8.1f} ms")
    total = statistics.median(r["total"] for r in runs)
    print(f"  goal 1 s: {total:.3f} s = {total / 1.0:.2f}x of the budget")
    helps = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stack", "--help"], capture_output=True, check=True)
        helps.append(time.perf_counter() - t0)
    help_time = statistics.median(helps)
    baseline = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True)
        baseline.append(time.perf_counter() - t0)
    base = statistics.median(baseline)
    print(
        f"stack --help: {help_time:.3f} s "
        f"(python -c pass: {base:.3f} s, ratio {help_time / base:.1f}x)"
    )
    print(f"  goal 0.3 s: {help_time / 0.3:.2f}x of the budget")


if __name__ == "__main__":
    main()
