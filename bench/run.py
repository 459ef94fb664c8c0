"""The performance benchmarks of issue 6: prints a table of figures and ratios.

    python bench/run.py                      # P1-P5 with the default sizes
    python bench/run.py --only p1,p3 --tasks 20000 --io-tasks 4000 --rounds 3

Needs a Docker engine and the offline images (`eval "$(scripts/offline-images)"`). Not a
timed test: compare rows of one run (ratios); absolute figures depend on the machine's load.
Every stack gets a unique project name and is taken down, also on errors or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SCENARIOS = ("p1", "p2", "p3", "p4", "p5")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help="e.g. p1,p3")
    parser.add_argument("--tasks", type=int, default=20000, help="P1 no-op tasks per drain")
    parser.add_argument("--io-tasks", type=int, default=4000, help="P1 10 ms tasks per drain")
    parser.add_argument("--rounds", type=int, default=3, help="P1/P3 repetitions (median/best)")
    parser.add_argument("--rate", type=float, default=200, help="P2 tasks per second")
    parser.add_argument("--seconds", type=float, default=10, help="P2 duration")
    args = parser.parse_args(argv)
    args.only = [s.strip().lower() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    return args


def p4() -> list[tuple[str, str]]:
    import model_speed

    figures = model_speed.measure()
    return [
        ("P4 validate+routes+render, 500 queues/200 groups",
         f"{figures['total']:.3f} s (goal <= 1 s)"),
        ("P4 `stack validate`, 500 queues", f"{figures['stack validate']:.3f} s (goal <= 0.3 s)"),
        ("P4 `stack render`, 500 queues", f"{figures['stack render']:.3f} s (goal <= 0.5 s)"),
        ("P4 `stack --help`", f"{figures['help']:.3f} s (goal <= 0.3 s; "
         f"bare python {figures['python']:.3f} s)"),
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    args = parse(argv)
    rows: list[tuple[str, str]] = []
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load {load:.2f} at start", flush=True)
    if {"p1", "p2", "p5"} & set(args.only):
        import latency
        import observe
        import throughput
        from harness import bench_stack

        with bench_stack(throughput.TOPOLOGY, "bench") as stack:
            print(f"bench stack {stack.name} up in {stack.up_seconds:.1f} s", flush=True)
            if "p1" in args.only:
                rows += throughput.run(stack, args.tasks, args.io_tasks, args.rounds)
            if "p2" in args.only:
                if "p1" not in args.only:
                    throughput.start_extras(stack)
                rows += latency.run(stack, args.rate, args.seconds)
            if "p5" in args.only:
                rows += observe.run(stack, args.tasks, max(args.rounds, 4))
    if "p3" in args.only:
        import startup

        rows += startup.run(args.rounds)
    if "p4" in args.only:
        rows += p4()
    width = max(len(label) for label, _ in rows)
    print(f"\nload {load:.2f} at start, {os.getloadavg()[0]:.2f} at end, {time.ctime()}")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
