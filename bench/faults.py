"""R1-R4 figures (docs/guarantees.md): faults in real containers on both brokers, and the fuzz.

R1-R3 run the scenarios of tests/integration/faults_lib.py (the fault tests run the same
ones) on a fresh stack per broker; R4 sends generated topology files (tests/fuzzing.py) to
the loader and to `stack validate`. One line per figure:

    R1 redis: sent 120, completed 120, lost 0, duplicated 0 (...)
    R4: inputs 10000, tracebacks 0

Needs a Docker engine and the offline images: eval "$(scripts/offline-images)" first.
Exit code 1 when a guarantee failed (a task lost where none may be, or a traceback).
Not a test: run it by hand, `python bench/faults.py [--broker redis] [--fuzz N] [--fuzz-only]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.faults_lib import (  # noqa: E402 (needs ROOT on sys.path)
    FaultStack,
    Figures,
    broker_restart,
    killed_worker,
    scale_down,
)

BROKERS = ("redis", "rabbitmq")
IMAGE_VARS = ("STACK_PYTHON_IMAGE", "STACK_REDIS_IMAGE", "STACK_RABBITMQ_IMAGE")


def faults(broker: str, docker: object, report: Callable[[Figures], None]) -> None:
    """R1 (and R1 with acks_late false), R2, R3 on one fresh stack, taken down at the end."""
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        stack = FaultStack.start(broker, Path(tmp), docker, "bench-faults")
        try:
            report(killed_worker(stack)[0])
            report(killed_worker(stack, group="early")[0])
            report(scale_down(stack)[0])
            report(broker_restart(stack)[0])
        finally:
            stack.close()


def fuzz(inputs: int) -> tuple[int, list[str]]:
    """(inputs run, tracebacks): each input to load_string and to the CLI's `validate`."""
    import typer
    from click.testing import CliRunner
    from hypothesis import HealthCheck, Phase, given, settings

    from stack.cli.main import app
    from stack.errors import TopologyError
    from stack.topology.load import load_string
    from tests.fuzzing import topology_texts

    command, runner = typer.main.get_command(app), CliRunner()
    seen = 0
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp:
        path = Path(tmp) / "fuzz.yaml"

        @settings(
            max_examples=inputs, deadline=None, database=None, phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        @given(text=topology_texts())
        def one(text: str) -> None:
            nonlocal seen
            seen += 1
            try:
                load_string(text, "fuzz.yaml")
            except TopologyError:
                pass
            except Exception:  # the figure counts them: anything but TopologyError
                failures.append(traceback.format_exc())
                return
            path.write_text(text, encoding="utf-8")
            result = runner.invoke(command, ["validate", str(path)])
            crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
            if crashed or result.exit_code not in (0, 1) or "Traceback" in result.output:
                failures.append(f"stack validate exit {result.exit_code}:\n{result.output}")

        one()
    return seen, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=BROKERS, action="append", help="default: both")
    parser.add_argument("--fuzz", type=int, default=10_000, help="R4 inputs (0: skip)")
    parser.add_argument("--fuzz-only", action="store_true", help="R4 only: no Docker needed")
    args = parser.parse_args()
    brokers = [] if args.fuzz_only else args.broker or list(BROKERS)
    missing = [name for name in IMAGE_VARS if not os.environ.get(name)]
    if brokers and missing:
        print(f'{", ".join(missing)} unset: run `eval "$(scripts/offline-images)"` first')
        return 2
    broken: list[str] = []

    def report(figures: Figures) -> None:
        print(figures.line(), flush=True)
        if figures.lost and not figures.variant:  # a variant shows what the defaults prevent
            broken.append(figures.line())

    started = time.monotonic()
    if brokers:
        import docker

        client = docker.from_env()
        for broker in brokers:
            faults(broker, client, report)
    if args.fuzz:
        seen, failures = fuzz(args.fuzz)
        print(f"R4: inputs {seen}, tracebacks {len(failures)}", flush=True)
        if failures:
            broken.append(failures[0])
    print(f"({time.monotonic() - started:.0f} s)")
    for text in broken:
        print(f"FAILED: {text}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
