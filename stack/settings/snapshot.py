"""The topology's Celery settings, computed when the app image is built.

Every worker, beat and Flower process would otherwise read the YAML and validate it with
pydantic before Celery starts: ~0.15 s of CPU of a ~0.9 s start in the app image on this
project's 2-core machine, paid again by each replica that `stack scale` adds. The image
build writes this snapshot once (`python -m stack.settings.snapshot TOPOLOGY OUT`); boot.py uses it
only while the topology file is byte for byte one it was taken for: the file itself, or the
text the Helm chart's ConfigMap mounts for it (`topology.text.topology_text`). Any other file
goes through the full load, so the snapshot can make a start faster but never different.

File format: one JSON header line (format, kit version, sha256 of each accepted topology
text), then a pickle of the settings. The header is checked before anything is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stack import __version__
from stack.settings.celeryconf import combine

if TYPE_CHECKING:
    from stack.topology.model import Topology

FORMAT = 3


@dataclass(frozen=True)
class Snapshot:
    """What a process needs of the topology: its app, and its settings without the URLs."""

    app: str
    broker_type: str
    visibility_timeout: int
    overrides: dict[str, Any]
    base: dict[str, Any]  # shared by every process (routing, beat, events)
    groups: dict[str, dict[str, Any]]  # worker group -> its own settings
    ignored_queues: frozenset[str]  # see celeryconf.ignored_queues

    def settings(
        self, broker_url: str | None, backend_url: str | None, group: str | None
    ) -> dict[str, Any] | None:
        """The same dict as celeryconf.settings; None for a group the topology lacks."""
        if group is not None and group not in self.groups:
            return None
        return combine(
            self.base,
            self.groups[group] if group is not None else {},
            broker_type=self.broker_type,
            visibility_timeout=self.visibility_timeout,
            broker_url=broker_url,
            backend_url=backend_url,
            overrides=self.overrides,
        )


def of(topology: Topology) -> Snapshot:
    """The snapshot of a validated topology (taken at image build, or at start without one)."""
    from stack.settings.celeryconf import base_settings, group_settings, ignored_queues

    return Snapshot(
        app=topology.app,
        broker_type=topology.broker.type,
        visibility_timeout=topology.broker.visibility_timeout,
        overrides=dict(topology.celery),
        base=base_settings(topology),
        groups={name: group_settings(group) for name, group in topology.workers.items()},
        ignored_queues=ignored_queues(topology),
    )


def digest(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def _header(texts: list[bytes]) -> bytes:
    fields = {"format": FORMAT, "kit": __version__, "sha256": sorted({digest(t) for t in texts})}
    return json.dumps(fields, sort_keys=True).encode() + b"\n"


def _accepts(header: bytes, text: bytes) -> bool:
    try:
        fields = json.loads(header)
    except ValueError:
        return False
    return (
        isinstance(fields, dict)
        and fields.get("format") == FORMAT
        and fields.get("kit") == __version__
        and digest(text) in (fields.get("sha256") or ())
    )


def take(topology: Topology, text: bytes) -> bytes:
    """The snapshot file's bytes for a validated topology read from `text`."""
    from stack.errors import StackError
    from stack.topology.load import load_string
    from stack.topology.text import topology_text

    snap = of(topology)
    texts = [text]
    # The Helm chart mounts its own dump of the topology (JSON types, external URLs as
    # ${VAR}s): pods of the same image may use the snapshot only if that dump gives these
    # very settings. A date in beat args or a number key under `celery:` does not survive it.
    chart_text = topology_text(topology)
    try:
        same = of(load_string(chart_text, "configmap.yaml").topology) == snap
    except StackError:
        same = False
    if same:
        texts.append(chart_text.encode())
    return _header(texts) + pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL)


def read(topology_path: str | Path, snapshot_path: str | Path) -> Snapshot | None:
    """The snapshot, if it was taken from this very topology file by this kit; else None."""
    try:
        text = Path(topology_path).read_bytes()
        with open(snapshot_path, "rb") as file:
            if not _accepts(file.readline(), text):
                return None
            snap = pickle.load(file)
    except (
        OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError,
        TypeError, KeyError, IndexError,
    ):  # fmt: skip
        # Missing, unreadable, damaged or from another kit: the full load gives the same
        # settings, only slower.
        return None
    return snap if isinstance(snap, Snapshot) else None


def current(topology_path: str | Path, snapshot_path: str | Path) -> tuple[Snapshot, str]:
    """The image's snapshot if it fits the topology file, else one taken from the file now;
    and which of the two ("snapshot", "topology")."""
    taken = read(topology_path, snapshot_path)
    if taken is not None:
        return taken, "snapshot"
    from stack.topology.load import load

    return of(load(topology_path).topology), "topology"


def write(topology_path: str | Path, snapshot_path: str | Path) -> None:
    from stack.topology.load import load

    path = Path(topology_path)
    loaded = load(path)
    Path(snapshot_path).write_bytes(take(loaded.topology, path.read_bytes()))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m stack.settings.snapshot TOPOLOGY OUT", file=sys.stderr)
        return 2
    from stack.errors import StackError

    try:
        write(argv[0], argv[1])
    except (StackError, OSError) as exc:
        print(f"stack.settings.snapshot: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run as `-m`, this module is __main__; pickle must name the class by its importable
    # module, so the work is done by stack.settings.snapshot itself.
    from stack.settings import snapshot as _module

    sys.exit(_module.main(sys.argv[1:]))
