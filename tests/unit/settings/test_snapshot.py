"""The image's snapshot of the settings: the same settings as the topology, or not used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stack.settings import snapshot
from stack.settings.celeryconf import settings
from stack.topology.load import load
from tests.helpers import COLORS, EXTERNAL, RABBIT, ROOT

URLS = [
    ("redis://:pw@redis:6379/0", "redis://:pw@redis:6379/1"),
    ("amqp://stack:pw@rabbitmq:5672//", None),
    (None, None),
]


def topology_file(tmp_path: Path, name: str) -> Path:
    if name == "colors":
        return COLORS / "topology.yaml"
    path = tmp_path / "topology.yaml"
    path.write_text({"rabbit": RABBIT, "external": EXTERNAL}[name], encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["colors", "rabbit", "external"])
def test_snapshot_gives_the_same_settings_as_the_topology(tmp_path: Path, name: str) -> None:
    path = topology_file(tmp_path, name)
    out = tmp_path / "topology.snapshot"
    assert snapshot.main([str(path), str(out)]) == 0
    snap = snapshot.read(path, out)
    assert snap is not None
    topology = load(path).topology
    assert snap.app == topology.app
    for group in [None, *topology.workers]:
        for broker_url, backend_url in URLS:
            expected = settings(topology, broker_url, backend_url, group)
            assert snap.settings(broker_url, backend_url, group) == expected, (group, broker_url)
    assert snap.settings(URLS[0][0], URLS[0][1], "no-such-group") is None


def test_snapshot_of_another_file_is_not_used(tmp_path: Path) -> None:
    path = topology_file(tmp_path, "rabbit")
    out = tmp_path / "topology.snapshot"
    snapshot.write(path, out)
    # One byte more, same meaning: still not the file the snapshot was taken from.
    path.write_text(RABBIT + "\n", encoding="utf-8")
    assert snapshot.read(path, out) is None


@pytest.mark.parametrize(
    "content",
    [b"", b"not json\n", b'{"format": 0}\n', b"[1]\n", None],
    ids=["empty", "garbage", "old-format", "not-a-header", "missing"],
)
def test_unusable_snapshot_files_are_ignored(tmp_path: Path, content: bytes | None) -> None:
    path = topology_file(tmp_path, "rabbit")
    out = tmp_path / "topology.snapshot"
    if content is not None:
        out.write_bytes(content)
    assert snapshot.read(path, out) is None


def test_right_header_with_a_broken_payload_is_ignored(tmp_path: Path) -> None:
    path = topology_file(tmp_path, "rabbit")
    out = tmp_path / "topology.snapshot"
    snapshot.write(path, out)
    header = out.read_bytes().split(b"\n", 1)[0]
    assert snapshot.digest(path.read_bytes()) in json.loads(header)["sha256"]
    out.write_bytes(header + b"\n" + b"\x80\x05garbage")
    assert snapshot.read(path, out) is None


def test_snapshot_of_a_bad_topology_is_one_line_exit_1_and_no_file(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text("name: x\napp: tasks:app\nworkers: {w: {queues: [nowhere]}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "stack.settings.snapshot", str(path), str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("stack.settings.snapshot: ")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field", ["format", "kit"])
def test_snapshot_of_another_format_or_kit_is_not_used(tmp_path: Path, field: str) -> None:
    path = topology_file(tmp_path, "rabbit")
    out = tmp_path / "topology.snapshot"
    snapshot.write(path, out)
    header, payload = out.read_bytes().split(b"\n", 1)
    assert snapshot.read(path, out) is not None
    fields = json.loads(header)
    fields[field] = "other"
    out.write_bytes(json.dumps(fields).encode() + b"\n" + payload)
    assert snapshot.read(path, out) is None


TRAPS = """\
name: traps
app: tasks:app
queues: [q]
workers:
  w: {queues: [q]}
beat:
  tick: {task: tasks.a, every: 60, args: [2024-01-01]}
celery:
  broker_transport_options: {5: x}
"""


def test_chart_text_is_accepted_only_when_it_gives_the_same_settings(tmp_path: Path) -> None:
    """The chart's ConfigMap is a JSON-mode dump: a YAML date becomes a string, a number key
    a string key. A pod mounting it must then load it, not use the image's snapshot."""
    from stack.topology.text import topology_text

    for name, text, fits in [("rabbit", RABBIT, True), ("traps", TRAPS, False)]:
        source = tmp_path / f"{name}.yaml"
        source.write_text(text, encoding="utf-8")
        out = tmp_path / f"{name}.snapshot"
        snapshot.write(source, out)
        mounted = tmp_path / f"{name}-configmap.yaml"
        mounted.write_text(topology_text(load(source).topology), encoding="utf-8")
        assert snapshot.read(source, out) is not None
        assert (snapshot.read(mounted, out) is not None) is fits, name
