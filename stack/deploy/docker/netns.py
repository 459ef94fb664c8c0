"""One network namespace for the project's workers and beat, held by a do-nothing container.

Why: on Docker, a container's own network namespace (the namespace itself, a veth pair on
the project bridge, the embedded DNS rules) is most of what starting it costs. Starting 3
containers of the app image in parallel took 0.85 s on the project network and 0.30 s
joining a running container's namespace (bench/RESULTS.md, "2026-12-01, 6777a80: one
network namespace for workers and beat"), and the engine's work competes for the same 2
cores the new workers need to boot. Workers and beat publish no port and nothing connects
to them: they need a way out to the broker, not an address each. So they join the
namespace of one holder, as the containers of a Kubernetes pod join its sandbox. Flower,
the broker and the backend keep their own: they are served.

What joining changes:
- every joined container has the holder's hostname, so a worker's Celery node name is
  set from its own container name (GROUP@container) instead of `%h`;
- a joined container is bound to the holder's namespace as it was when it started: if the
  holder restarts or is recreated, those containers have no network any more. `stack up`
  finds them (started before the holder last started) and recreates them.
"""

from __future__ import annotations

from datetime import datetime

from stack.deploy.docker.client import Container
from stack.deploy.docker.spec import container_name
from stack.deploy.roles import JOINING_ROLES, Role
from stack.deploy.services import ImageSet, Service
from stack.topology.model import Topology

SERVICE = "netns"


def joins(service: Service) -> bool:
    """Does this service's replicas join the holder's namespace? Those that serve nothing."""
    return service.role in JOINING_ROLES and not service.ports and service.hostname is None


def holder_service(topology: Topology, imgs: ImageSet) -> Service:
    """The holder: `sleep` under Docker's init (which stops it at once on SIGTERM), from the
    Python base image, which no topology edit changes: recreating the holder would take
    every worker with it."""
    return Service(
        name=SERVICE,
        role=Role.NETNS,
        image=imgs.python,
        command=("sleep", "infinity"),
        secrets=False,
        hostname=f"{topology.name}-apps",
        stop_grace_period=1,
    )


def needed(services: list[Service]) -> bool:
    """Does any of these services join the holder's namespace?"""
    return any(joins(s) for s in services)


def holder_name(project: str) -> str:
    return container_name(project, SERVICE, 1)


def _started(container: Container) -> datetime | None:
    text = str(container.attrs.get("State", {}).get("StartedAt") or "")
    if not text or text.startswith("0001-"):
        return None  # never started
    # RFC 3339 with nanoseconds; fromisoformat takes up to microseconds.
    head, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction or '0')[:6]:0<6}+00:00")


def stale(holder: Container | None, containers: list[Container]) -> set[str]:
    """Names of joined containers that joined an earlier run of the holder (they started
    before the holder last started, or the holder is gone): their namespace is dead."""
    since = _started(holder) if holder is not None and holder.status == "running" else None
    found = set()
    for container in containers:
        if not str(container.attrs.get("HostConfig", {}).get("NetworkMode", "")).startswith(
            "container:"
        ):
            continue
        started = _started(container)
        if since is None or (started is not None and started < since):
            found.add(str(container.name))
    return found
