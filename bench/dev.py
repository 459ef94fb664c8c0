"""Save-to-new-code: `stack dev` against `docker compose watch` (sync+restart), one group.

    python bench/dev.py [--rounds 5]

The colour demo with its red group alone (`stack dev --groups red`; the compose file
rendered by `stack render`, green, blue and colorful removed). A task of red's,
`tasks.red_version`, returns VERSION from red_helpers.py. Each round rewrites that file and
times from the save until a task sent then returns the new value: tasks sent meanwhile wait
in red_queue or run on the old code, as a user's `stack send --wait` would. Compose's rule
syncs the app's directory into /app and restarts red (red runs as root there: Compose's
sync copies files in as the container's user, which cannot write the image's /app).

Needs a Docker engine and the offline images (`eval "$(scripts/offline-images)"`). Not a
timed test: compare the two rows of one run. Both stacks are taken down, also on errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COLORS = ROOT / "examples" / "colors"
STACK = [sys.executable, "-m", "stack"]
TIMEOUT = 120.0
# A send every 0.1 s, as a script polling for the change would: a tight loop of sends
# takes the CPU the reload needs on a 2-core machine (the import check took 0.8 s, not 0.2).
POLL = 0.1
SETTLE = 2.0  # seconds between rounds: the previous restart's logs and records settle

RED_VERSION = """

@app.task(name="tasks.red_version")
def red_version() -> str:
    from red_helpers import VERSION

    return VERSION
"""


def prepare(tmp: Path, name: str) -> Path:
    """The colour demo in tmp, named name, with tasks.red_version routed to red_queue."""
    shutil.copytree(COLORS, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".stack"))
    (tmp / "red_helpers.py").write_text('VERSION = "v0"\n', encoding="utf-8")
    with (tmp / "tasks.py").open("a", encoding="utf-8") as tasks:
        tasks.write(RED_VERSION)
    path = tmp / "topology.yaml"
    text = re.sub(r"(?m)^name: .*$", f"name: {name}", path.read_text(encoding="utf-8"))
    text = text.replace("routes:", "routes:\n  tasks.red_version: red_queue", 1)
    path.write_text(text, encoding="utf-8")
    return path


def edits(app: Any, helpers: Path, rounds: int, tag: str) -> list[float]:
    """Seconds from each save of helpers until tasks.red_version returns what was saved."""
    assert app.send_task("tasks.red_version").get(timeout=TIMEOUT) == "v0"
    time.sleep(SETTLE)
    out = []
    for i in range(1, rounds + 1):
        wanted = f"{tag}{i}"
        saved = time.perf_counter()
        helpers.write_text(f'VERSION = "{wanted}"\n', encoding="utf-8")
        deadline = saved + TIMEOUT
        while app.send_task("tasks.red_version").get(timeout=TIMEOUT) != wanted:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"red did not return {wanted!r} in {TIMEOUT:g} s")
            time.sleep(POLL)
        out.append(time.perf_counter() - saved)
        time.sleep(SETTLE)
    return out


def wait_line(log: Path, needle: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT * 2
    while needle not in log.read_text(encoding="utf-8", errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"{needle!r} never came:\n{tail}")
        time.sleep(0.1)


def stack_side(path: Path, rounds: int) -> list[float]:
    from stack import connect

    log = path.parent.parent / f"{path.parent.name}-dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [*STACK, "dev", str(path), "--groups", "red"], stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_line(log, "(Ctrl-C stops)", dev)
            app = connect(path)
            return edits(app, path.parent / "red_helpers.py", rounds, "stack-")
        finally:
            dev.send_signal(signal.SIGINT)
            dev.wait(timeout=60)
            subprocess.run(
                [*STACK, "down", str(path), "--volumes"], capture_output=True, check=False
            )


def compose_file(path: Path, out: Path) -> Path:
    """The rendered compose file, red alone beside the broker and beat, with a watch rule."""
    subprocess.run(
        [*STACK, "render", str(path), "--out", str(out)], capture_output=True, check=True
    )
    compose = out / "compose.yaml"
    data = yaml.safe_load(compose.read_text(encoding="utf-8"))
    for group in ("green", "blue", "colorful"):
        data["services"].pop(group)
    red = data["services"]["red"]
    red["user"] = "root"
    red["develop"] = {
        "watch": [
            {
                "action": "sync+restart",
                "path": str(path.parent),
                "target": "/app",
                "ignore": [".stack/", "rendered/", "__pycache__/"],
            }
        ]
    }
    compose.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return compose


def compose_side(path: Path, rounds: int) -> list[float]:
    from stack import connect

    project = f"{path.parent.name}-compose"
    out = path.parent / "rendered"
    compose = ["docker", "compose", "-p", project, "-f", str(compose_file(path, out))]
    log = path.parent.parent / f"{project}-watch.log"
    try:
        subprocess.run([*compose, "up", "-d", "--wait"], capture_output=True, check=True)
        port = (
            subprocess.run(
                [*compose, "port", "redis", "6379"], capture_output=True, text=True, check=True
            )
            .stdout.strip()
            .rpartition(":")[2]
        )
        env = dict(
            line.split("=", 1)
            for line in (out / "stack.env").read_text(encoding="utf-8").splitlines()
            if "=" in line
        )
        inside = "@redis:6379/"
        broker = env["STACK_BROKER_URL"].replace(inside, f"@127.0.0.1:{port}/")
        backend = env["STACK_RESULT_BACKEND"].replace(inside, f"@127.0.0.1:{port}/")
        with log.open("wb") as sink:
            watch = subprocess.Popen(
                [*compose, "watch", "--no-up", "red"], stdout=sink, stderr=subprocess.STDOUT
            )
            try:
                wait_line(log, "Watch enabled", watch)
                app = connect(path, broker, backend)
                return edits(app, path.parent / "red_helpers.py", rounds, "compose-")
            finally:
                watch.terminate()
                watch.wait(timeout=30)
    finally:
        subprocess.run([*compose, "down", "--volumes", "--rmi", "local"], capture_output=True,
                       check=False)  # fmt: skip


def summary(label: str, seconds: list[float]) -> str:
    median, best, worst = statistics.median(seconds), min(seconds), max(seconds)
    return f"{label:<28} median {median:5.2f} s, best {best:5.2f} s, worst {worst:5.2f} s"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="edits timed on each side")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at start", flush=True)
    sides: list[tuple[str, Callable[[Path, int], list[float]]]] = [
        ("stack dev", stack_side),
        ("docker compose watch", compose_side),
    ]
    results: dict[str, list[float]] = {}
    for label, side in sides:
        tmp = Path(tempfile.mkdtemp(prefix="bench-dev-"))
        try:
            path = prepare(tmp / "app", f"devb-{secrets.token_hex(3)}")
            results[label] = side(path, args.rounds)
            print(summary(label, results[label]), flush=True)
        finally:
            # The next side imports its own copy of the app (a new Celery app, new URLs).
            sys.modules.pop("tasks", None)
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)
    ratio = statistics.median(results["stack dev"]) / statistics.median(
        results["docker compose watch"]
    )
    print(f"\nload {os.getloadavg()[0]:.2f} at end, {time.ctime()}")
    print(f"stack dev / compose watch (medians): {ratio:.2f}x (goal: under 2 s and below 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
