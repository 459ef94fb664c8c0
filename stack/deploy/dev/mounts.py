"""Where `stack dev` keeps its copies of the app, and the services that mount them.

live/ is mounted read-only over the app's directory in each worker and beat: it changes
only once an edit compiles and imports. next/ holds the edit while one container of each
group concerned imports it (container/devcheck.py). state/ is where each process records
the app files it imported (container/devstate.py), read-write.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from stack.container import devreload, devstate, paths
from stack.deploy.roles import DEV_ROLES, Role
from stack.deploy.secrets import STATE_DIR
from stack.deploy.services import LAUNCH, Service
from stack.errors import StackError
from stack.topology.model import Topology

DEV_LAUNCH = ("python", "-m", "stack.container.devreload")


@dataclass(frozen=True)
class DevDirs:
    root: Path

    @classmethod
    def of(cls, base_dir: Path, project: str) -> DevDirs:
        return cls((base_dir / STATE_DIR / "dev" / project).resolve())

    @property
    def live(self) -> Path:
        return self.root / "live"

    @property
    def next(self) -> Path:
        return self.root / "next"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def create(self) -> None:
        for directory in (self.live, self.next, self.state):
            directory.mkdir(parents=True, exist_ok=True)
        # The app runs as a non-root user (paths.UID) that writes its records here.
        self.state.chmod(0o777)


def chosen_groups(services: list[Service], groups: list[str] | None) -> set[str] | None:
    """The worker groups --groups names, checked against the topology; None: all."""
    if not groups:
        return None
    known = [s.name for s in services if s.role == Role.WORKER]
    unknown = [g for g in groups if g not in known]
    if unknown:
        raise StackError(
            f"--groups: no worker group {', '.join(map(repr, unknown))}; "
            f"the groups are {', '.join(known)}"
        )
    return set(groups)


def dev_services(
    topology: Topology, services: list[Service], dirs: DevDirs, groups: set[str] | None = None
) -> list[Service]:
    """services with the app mounted from dirs into workers and beat, each worker under the
    supervisor that reloads it (container/devreload.py); of the worker groups, only those in
    groups (None: all)."""
    out = []
    for service in services:
        if service.role == Role.WORKER and groups is not None and service.name not in groups:
            continue
        if service.role in DEV_ROLES:
            environment = {**service.environment, devstate.ENV_STATE: paths.DEV_STATE}
            command = service.command
            group = topology.workers.get(service.name)
            if service.role == Role.WORKER and group is not None:
                environment[devreload.ENV_RESTART] = group.dev_restart
                command = (*DEV_LAUNCH, *command[len(LAUNCH) :])
            service = replace(
                service,
                command=command,
                environment=environment,
                binds={
                    str(dirs.live): (paths.APP_DIR, "ro"),
                    str(dirs.next): (paths.DEV_NEXT, "ro"),
                    str(dirs.state): (paths.DEV_STATE, "rw"),
                },
            )
        out.append(service)
    return out


@dataclass(frozen=True)
class DevMode:
    """What `stack up` changes under `stack dev`: the mounts, the groups, the revisions."""

    dirs: DevDirs
    groups: set[str] | None = None

    def services(self, topology: Topology, services: list[Service]) -> list[Service]:
        return dev_services(topology, services, self.dirs, self.groups)
