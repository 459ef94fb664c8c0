"""`stack build [--push]`: the app image, tagged by its content for a registry, pushed; and
the check `stack deploy` makes that a cluster can pull what it is told to run.

The tag is 12 hex digits of the image's build context (the files and the Dockerfile, which
names the base image): the same code gives the same reference on every build, and an edit
a new one, so a cluster rolls exactly when the image changed. It needs no engine to
compute, so `stack deploy` finds it against any engine (a Swarm manager holds no build).
Credentials for the registry are Docker's own (`docker login`): the engine reads them, the
kit never sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.deploy.context import context_digest, context_files
from stack.deploy.docker import client as docker_client
from stack.deploy.ops.build import ensure_app_image, wheelhouse
from stack.deploy.ops.project import Project, open_project
from stack.errors import StackError
from stack.topology.model import Topology

TAG_LENGTH = 12


def repository(topology: Topology) -> str:
    """The app image's repository name, without registry or tag."""
    if topology.image.name:
        name = topology.image.name.rpartition(":")[0] or topology.image.name
        return name.rpartition("/")[2]
    return f"{topology.name}-app"


def reference(registry: str, topology: Topology, digest: str) -> str:
    """REGISTRY/REPOSITORY:<12 hex of the build context>."""
    return f"{registry.rstrip('/')}/{repository(topology)}:{digest[:TAG_LENGTH]}"


def content_digest(project: Project) -> str:
    return context_digest(context_files(project.loaded, project.images, wheelhouse()))


def registry_of(topology: Topology, override: str | None) -> str | None:
    return override or topology.image.registry


@dataclass(frozen=True)
class Layer:
    """A layer's push, as the engine reports it."""

    id: str
    status: str
    current: int = 0
    total: int = 0


def layers(messages: Iterator[dict[str, Any]]) -> Iterator[tuple[Layer | None, str | None]]:
    """(a layer's progress, or None; the pushed digest once the engine reports it)."""
    for message in messages:
        digest = (message.get("aux") or {}).get("Digest")
        if digest:
            yield None, str(digest)
        elif message.get("id") and message.get("status"):
            detail = message.get("progressDetail") or {}
            current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
            yield Layer(str(message["id"]), str(message["status"]), current, total), None


@dataclass(frozen=True)
class Built:
    reference: str  # REGISTRY/REPOSITORY:TAG, or the local tag without a registry
    image_id: str
    built: bool  # False: an image of the same content was there
    digest: str | None  # the registry's, once pushed


def build(
    path: str | Path | None,
    *,
    push: bool,
    registry: str | None,
    status: Callable[[str], None],
    progress: Callable[[Layer], None],
) -> Built:
    project = open_project(path)
    where = registry_of(project.topology, registry)
    if push and where is None:
        raise StackError(
            f"{project.loaded.path}: nowhere to push: set image.registry in the topology or "
            "pass --registry HOST[:PORT][/PATH]"
        )
    docker = docker_client.get()
    app = ensure_app_image(docker, project, status)
    if where is None:
        return Built(project.images.app, app.id, app.built, None)
    ref = reference(where, project.topology, content_digest(project))
    docker.tag(app.id, ref)
    pushed = None
    if push:
        status(f"pushing {ref}")
        for layer, found in layers(docker.push(ref)):
            if layer is not None:
                progress(layer)
            pushed = found or pushed
        if pushed is None:
            raise StackError(f"push {ref}: the engine reported no digest")
    return Built(ref, app.id, app.built, pushed)


def cluster_image(project: Project, registry: str | None) -> str | None:
    """The reference a cluster should run for project (None without a registry), after
    checking that its registry holds it: TAG@DIGEST, so every node runs the image that
    was checked, even if the tag is pushed again (Swarm's SDK API does not resolve tags)."""
    where = registry_of(project.topology, registry)
    if where is None:
        return None
    ref = reference(where, project.topology, content_digest(project))
    digest = docker_client.get().registry_digest(ref)
    if digest is None:
        raise StackError(
            f"the registry holds no {ref}, the app image of this code: run "
            f"`stack build {project.loaded.path} --push` first"
        )
    return f"{ref}@{digest}"
