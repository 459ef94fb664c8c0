"""A loaded topology with what every runtime command needs: secrets, images, the plan."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from stack.deploy import services as plan
from stack.deploy.secrets import Secrets, ensure, secrets_path
from stack.deploy.services import ImageSet, Service
from stack.topology.load import Loaded, load
from stack.topology.model import Topology


@dataclass(frozen=True)
class Project:
    loaded: Loaded
    secrets: Secrets
    images: ImageSet
    services: list[Service]

    @property
    def topology(self) -> Topology:
        return self.loaded.topology

    @property
    def name(self) -> str:
        return self.loaded.topology.name

    @property
    def secrets_file(self) -> Path:
        return secrets_path(self.loaded.base_dir, self.topology)

    def service(self, name: str) -> Service | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Service]:  # looked up per container: a scan was quadratic
        return {s.name: s for s in self.services}


def from_loaded(loaded: Loaded) -> Project:
    imgs = plan.images(loaded.topology)
    return Project(
        loaded=loaded,
        secrets=ensure(loaded.base_dir, loaded.topology),
        images=imgs,
        services=plan.services(loaded.topology, imgs),
    )


def open_project(path: str | Path | None, full: bool = True) -> Project:
    """full=False: without the checks that need Celery (load.load), for commands that only
    look at or resize the running stack."""
    return from_loaded(load(path, full))
