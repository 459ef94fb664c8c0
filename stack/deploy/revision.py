"""What an app container runs, as one digest: the image's code and its own Celery settings.

The app image holds the code and the topology, so any edit of the topology builds a new
image. Hashing the image id into every container would then recreate every worker, each
waiting out its running tasks, for an edit of one group. An app container's config hash
holds this revision instead: the image without its topology (build.code_hash) and what
boot.py takes from the topology for its process: the app, the broker type and visibility
timeout, and its Celery settings without the URLs (those reach it through its
environment, hashed with the rest of its spec). A container whose revision and spec are
unchanged keeps running on its older image, with the settings it would get now.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from stack.deploy.roles import APP_ROLES, Role
from stack.settings import snapshot

if TYPE_CHECKING:
    from stack.deploy.services import Service
    from stack.topology.model import Topology

# Read by beat alone (and a worker that embeds it): an edit of the schedule restarts beat,
# not the workers and Flower.
BEAT_ONLY = ("beat_schedule",)


def canonical(value: Any) -> Any:
    """value as plain JSON data that is the same in every process for equal settings.

    Order is kept (route maps are first-match); sets are sorted. Objects without a plain
    form are taken by repr(); one that shows an address would only make every `stack up`
    recreate that container, never keep a stale one.
    """
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, dict):
        return {"dict": [[canonical(k), canonical(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return {"set": sorted(json.dumps(canonical(v), sort_keys=True) for v in value)}
    if isinstance(value, re.Pattern):
        return {"re": value.pattern, "flags": int(value.flags)}
    if isinstance(value, timedelta):
        return {"timedelta": value.total_seconds()}
    as_dict = getattr(value, "as_dict", None)  # kombu's Queue, Exchange and binding
    if callable(as_dict):
        return {type(value).__name__: canonical(as_dict(recurse=True))}
    return {type(value).__name__: repr(value)}


def process_view(snap: snapshot.Snapshot, group: str | None, beat: bool) -> dict[str, Any]:
    """What boot.py gives the process of a worker group (group None: beat or Flower)."""
    conf = snap.settings(None, None, group)  # None: boot.py exits (an unknown group)
    if conf is not None and not beat:
        for key in BEAT_ONLY:
            conf.pop(key, None)
    return {
        "app": snap.app,
        "broker_type": snap.broker_type,
        "visibility_timeout": snap.visibility_timeout,
        "group": group,
        "settings": conf,
    }


def app_revisions(code_hash: str, topology: Topology, services: list[Service]) -> dict[str, str]:
    """Service name -> revision, for the services of the app image (workers, beat, Flower)."""
    snap = snapshot.of(topology)
    digests = Digests()
    revisions = {}
    for service in services:
        if service.role not in APP_ROLES:
            continue
        # The group whose settings boot.py loads: STACK_GROUP, which a group's `env:` may set.
        group = service.environment.get("STACK_GROUP") or None
        # A worker with embed_beat (-B) runs the schedule too.
        beat = service.role == Role.BEAT or (
            service.role == Role.WORKER and topology.workers[service.name].embed_beat
        )
        data = json.dumps([code_hash, digests.part(process_view(snap, group, beat))])
        revisions[service.name] = hashlib.sha256(data.encode()).hexdigest()[:16]
    return revisions


class Digests:
    """Values as digests of their canonical form, each object's digest made once.

    Every group's settings hold the very objects of the shared base (routes, queues,
    schedule): hashed once, they cost one pass over the topology, not one per group, and a
    group's revision hashes a few digests instead of a text the size of the topology.
    """

    def __init__(self) -> None:
        # id -> (the object, kept so that its id is not reused while cached; its digest)
        self._made: dict[int, tuple[Any, str]] = {}

    def part(self, value: Any) -> Any:
        """What stands for value in its container's digest: a scalar itself, else its digest."""
        if value is None or isinstance(value, (str, int, float)):
            return value
        made = self._made.get(id(value))
        if made is None or made[0] is not value:
            if isinstance(value, dict):  # a dict's values may be shared: digest them one by one
                form: Any = {"dict": [[canonical(k), self.part(v)] for k, v in value.items()]}
            else:
                form = canonical(value)
            made = (value, hashlib.sha256(json.dumps(form).encode()).hexdigest())
            self._made[id(value)] = made
        return {"sha256": made[1]}
