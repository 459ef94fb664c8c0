"""The app image: built from stack.deploy.context's context, skipped when nothing in it changed."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stack.deploy.context import context_digest, context_files, tar_context
from stack.deploy.docker import labels
from stack.deploy.docker.client import DockerClient
from stack.deploy.ops.project import Project
from stack.deploy.roles import Role
from stack.errors import RuntimeStackError

Status = Callable[[str], None]


def context_hash(files: dict[str, bytes], base_image_id: str) -> str:
    return context_digest(files, base_image_id)


def code_hash(files: dict[str, bytes], base_image_id: str, project: Project) -> str:
    """context_hash without the topology file (also where it lies in the app's tree): the
    part of the image every app container shares whatever its own settings."""
    topology = project.loaded.path.resolve()
    app_dir = (project.loaded.base_dir / project.topology.image.context).resolve()
    skip = {"topology.yaml"}
    if app_dir in topology.parents:
        skip.add(f"app/{topology.relative_to(app_dir).as_posix()}")
    return context_hash({k: v for k, v in files.items() if k not in skip}, base_image_id)


def kit_hash(files: dict[str, bytes], base_image_id: str, project: Project) -> str:
    """code_hash without the app's own files: what `stack dev`'s containers share, since
    they run the app from a mounted copy (deploy/dev/)."""
    kept = {k: v for k, v in files.items() if not k.startswith("app/")}
    return code_hash(kept, base_image_id, project)


def topology_hash(project: Project) -> str:
    return hashlib.sha256(project.loaded.path.read_bytes()).hexdigest()


def wheelhouse() -> Path | None:
    value = os.environ.get("STACK_WHEELHOUSE")
    return Path(value) if value else None


# pip's last word when neither the wheelhouse nor an index has a requirement.
NO_DISTRIBUTION = re.compile(r"No matching distribution found for (\S+)")


def missing_package(build_log: str) -> str | None:
    """The requirement pip could not find, from an image build's log."""
    found = NO_DISTRIBUTION.findall(build_log)
    return found[-1] if found else None


def missing_message(requirement: str, project: Project) -> str:
    """One line: what is missing, and the command that puts it into the image's reach."""
    command = f"stack wheels {project.loaded.path}"
    house = wheelhouse()
    if house is not None:
        return (
            f"the app image cannot install {requirement}: it is not in the wheelhouse {house} "
            f"($STACK_WHEELHOUSE); add the app's requirements to it with `{command}`"
        )
    return (
        f"the app image cannot install {requirement}: pip found no distribution of it (the "
        f"build reaches no package index?); fetch the app's requirements with "
        f"`{command} --out DIR` and set STACK_WHEELHOUSE=DIR"
    )


@dataclass(frozen=True)
class AppImage:
    id: str
    built: bool
    code_hash: str  # labels.CODE_HASH: see code_hash()
    kit_hash: str  # see kit_hash()


def ensure_app_image(docker: DockerClient, project: Project, status: Status) -> AppImage:
    """Build the app image unless one from the same context exists."""
    tag = project.images.app
    base_id = docker.require_image(
        project.images.python, "set STACK_PYTHON_IMAGE or images.python to a local image"
    )
    files = context_files(project.loaded, project.images, wheelhouse())
    digest = context_hash(files, base_id)
    code = code_hash(files, base_id, project)
    kit = kit_hash(files, base_id, project)
    existing = docker.image(tag)
    if existing is not None and existing.labels.get(labels.CONFIG_HASH) == digest:
        return AppImage(str(existing.id), False, code, kit)
    status(f"building {tag}")
    image_labels = {
        **labels.of(project.name, "app", Role.IMAGE, config_hash=digest),
        labels.CODE_HASH: code,
        labels.TOPOLOGY_HASH: topology_hash(project),
    }
    log: list[str] = []
    try:
        for line in docker.build(tar_context(files), tag, image_labels):
            log.append(line)
            text = line.strip()
            if text.startswith("Step "):
                status(f"building {tag}: {text}")
    except RuntimeStackError as exc:
        missing = missing_package("".join(log) + str(exc))
        if missing is None:
            raise
        raise RuntimeStackError(missing_message(missing, project)) from None
    built = docker.image(tag)
    assert built is not None  # the build succeeded and tagged it
    return AppImage(str(built.id), True, code, kit)
