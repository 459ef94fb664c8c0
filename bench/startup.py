"""P3: `stack up` and `stack scale red=4` of the colour demo against Docker Compose.

Images are built first (a warm-up `stack up` + `stack down`), so both sides start from the
same images with nothing running. `stack up` returns when every worker replica answers a
Celery ping, beat has started and Flower answers; `docker compose up -d --wait` when every
container's health check passes. Both are timed as the commands a user runs.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from harness import unique

ROOT = Path(__file__).resolve().parents[1]
COLORS = ROOT / "examples" / "colors"
STACK = [sys.executable, "-m", "stack"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {done.stderr[-800:]}")
    return seconds


def run(rounds: int) -> list[tuple[str, str]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-p3-"))
    shutil.copytree(COLORS, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".stack"))
    name = unique("p3")
    path = tmp / "topology.yaml"
    text = re.sub(r"(?m)^name: .*$", f"name: {name}", path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    out = tmp / "rendered"
    compose = ["docker", "compose", "-p", name, "-f", str(out / "compose.yaml")]
    results: dict[str, list[float]] = {}
    try:
        timed([*STACK, "up", str(path)])  # builds the image
        timed([*STACK, "down", str(path), "--volumes"])
        timed([*STACK, "render", str(path), "--out", str(out)])
        timed([*compose, "build"])  # its own tag (by content): built once, as stack up's
        for _ in range(rounds):
            results.setdefault("stack up", []).append(timed([*STACK, "up", str(path)]))
            results.setdefault("stack scale", []).append(
                timed([*STACK, "scale", "red=4", "-f", str(path)])
            )
            timed([*STACK, "down", str(path), "--volumes"])
            results.setdefault("compose up", []).append(timed([*compose, "up", "-d", "--wait"]))
            results.setdefault("compose scale", []).append(
                timed([*compose, "up", "-d", "--wait", "--no-recreate", "--scale", "red=4"])
            )
            timed([*compose, "down", "--volumes", "--timeout", "20"])
    finally:
        with contextlib.suppress(Exception):
            subprocess.run([*compose, "down", "--volumes"], capture_output=True, check=False)
        subprocess.run([*STACK, "down", str(path), "--volumes"], capture_output=True, check=False)
        subprocess.run(["docker", "rmi", f"{name}-app:latest"], capture_output=True, check=False)
        with contextlib.suppress(OSError, KeyError, TypeError):
            rendered = yaml.safe_load((out / "compose.yaml").read_text(encoding="utf-8"))
            tag = rendered["services"]["red"]["image"]
            subprocess.run(["docker", "rmi", tag], capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    best = {key: min(values) for key, values in results.items()}
    median = {key: statistics.median(values) for key, values in results.items()}
    print("  P3 rounds (s): " + "; ".join(
        f"{key} {' / '.join(f'{v:.2f}' for v in values)}" for key, values in results.items()
    ), flush=True)  # fmt: skip
    return [
        ("P3 `stack up` colours (images built) -> all ready",
         f"{best['stack up']:.2f} s best, {median['stack up']:.2f} s median (goal <= 5 s)"),
        ("P3 `docker compose up -d --wait` of the rendered file",
         f"{best['compose up']:.2f} s best, {median['compose up']:.2f} s median  stack/compose "
         f"{best['stack up'] / best['compose up']:.2f}x"),
        ("P3 `stack scale red=4` -> four answer a ping",
         f"{best['stack scale']:.2f} s best, {median['stack scale']:.2f} s median (goal <= 2 s)"),
        ("P3 compose `up --wait --scale red=4`",
         f"{best['compose scale']:.2f} s best, {median['compose scale']:.2f} s median  "
         f"stack/compose {best['stack scale'] / best['compose scale']:.2f}x"),
    ]  # fmt: skip
