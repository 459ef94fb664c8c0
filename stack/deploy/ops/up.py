"""`stack up`: build, create what is missing, recreate what changed, wait until really ready."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from stack.deploy.dev.mounts import DevMode
from stack.deploy.docker import client as docker_client
from stack.deploy.docker import labels, netns
from stack.deploy.docker.client import Container, DockerClient
from stack.deploy.docker.reconcile import UP, Change, Policy, reconcile, stop_all
from stack.deploy.docker.spec import container_specs, volume_name
from stack.deploy.ops.build import ensure_app_image
from stack.deploy.ops.endpoints import host_address
from stack.deploy.ops.project import Project, open_project
from stack.deploy.ops.ready import Readiness, Waiting
from stack.deploy.revision import app_revisions
from stack.deploy.roles import INFRA_ROLES, Role
from stack.deploy.services import Service
from stack.errors import RuntimeStackError, StackError

DEFAULT_TIMEOUT = 120.0
PARALLEL = 8


@dataclass(frozen=True)
class UpResult:
    project: str
    services: list[tuple[str, str, int]]  # (service, role, replicas)
    changes: list[Change]
    image_built: bool
    flower_url: str | None
    flower_user: str | None
    metrics_url: str | None
    secrets_file: Path
    seconds: float

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)


@contextmanager
def _status(console: Console | None, text: str) -> Iterator[Callable[[str], None]]:
    """A spinner line whose text the yielded function replaces."""
    if console is None:
        yield lambda _text: None
    else:
        with console.status(text) as spinner:
            yield lambda new: spinner.update(new)


def image_ids(docker: DockerClient, project: Project, app_image_id: str) -> dict[str, str]:
    ids = {project.images.app: app_image_id}
    for service in project.services:
        if service.image not in ids:
            ids[service.image] = docker.require_image(
                service.image,
                "set STACK_REDIS_IMAGE / STACK_RABBITMQ_IMAGE or the topology's images: "
                "to a local image",
            )
    if project.images.python not in ids and netns.needed(project.services):
        ids[project.images.python] = docker.require_image(
            project.images.python,
            "set STACK_PYTHON_IMAGE or the topology's images.python to a local image",
        )
    return ids


def ensure_holder(
    docker: DockerClient, project: Project, ids: dict[str, str]
) -> tuple[list[Change], Container | None]:
    """The running holder of the apps' network namespace (netns.py), created or recreated
    as needed; None when no service joins it."""
    if not netns.needed(project.services):
        return [], None
    service = netns.holder_service(project.topology, project.images)
    specs = container_specs(service, project.topology, project.secrets, ids[service.image])
    existing = docker.containers(project.name, service.name)
    changes, touched = reconcile(docker, specs, existing, policy=UP)
    return changes, docker.reload(touched[0])


def converge(
    docker: DockerClient,
    project: Project,
    services: list[Service],
    *,
    ids: dict[str, str],
    revisions: dict[str, str],
    policy: Policy = UP,
    holder: Container | None = None,
) -> tuple[list[Change], list[Waiting]]:
    """Reconcile each service's containers on its replicas; returns what to wait for.

    ids: image tag -> id; revisions: service -> what stands for its image in the config
    hash (revision.app_revisions), else the image id. holder: the running container whose
    network namespace workers and beat join; those that joined an earlier run of it are in
    a dead namespace (netns.stale): stopped at once, and recreated as policy says. Services
    converge in parallel: a recreated worker's warm shutdown must not hold up the others.
    """

    def one(service: Service) -> tuple[list[Change], Waiting]:
        join = netns.holder_name(project.name) if netns.joins(service) else None
        specs = container_specs(
            service,
            project.topology,
            project.secrets,
            ids[service.image],
            revision=revisions.get(service.name),
            join=join,
        )
        existing = docker.containers(project.name, service.name)
        dead = netns.stale(holder, existing) if join else set()
        done, touched = reconcile(docker, specs, existing, policy=policy, dead=dead)
        return done, Waiting(service, touched)

    changes: list[Change] = []
    waiting: list[Waiting] = []
    if not services:
        return changes, waiting
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(services))) as pool:
        for done, wait in pool.map(one, services):
            changes += done
            waiting.append(wait)
    return changes, waiting


def _halt_apps(
    docker: DockerClient, done: list[Change], waiting: list[Waiting], exc: StackError
) -> StackError:
    """The broker or backend failed to start (say its fixed host port is taken): stop the
    apps this run started, which would otherwise wait for a broker and then restart in a
    loop. They are kept, so the next `stack up` starts them again."""
    started = {c.container for c in done if c.action in ("created", "recreated", "started")}
    containers = [c for w in waiting for c in w.containers if c.name in started]
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        list(pool.map(docker.stop, containers))
    return RuntimeStackError(
        f"{exc}\n{len(containers)} app container(s) started by this run were stopped; "
        "fix the above and run `stack up` again"
    )


def remove_orphans(docker: DockerClient, project: Project) -> list[Change]:
    """Containers of services the topology no longer has (a renamed worker group)."""
    known = {s.name for s in project.services}
    if netns.needed(project.services):
        known.add(netns.SERVICE)
    orphans = [
        c for c in docker.containers(project.name) if c.labels.get(labels.SERVICE) not in known
    ]
    stop_all(docker, orphans)
    return [Change("removed", c.name) for c in orphans]


def converge_stack(
    docker: DockerClient,
    project: Project,
    *,
    ids: dict[str, str],
    revisions: dict[str, str],
    infra_running: Callable[[], None],
) -> tuple[list[Change], list[Waiting]]:
    """Every service of the plan converged (the holder, the broker and backend, the apps);
    what to wait for. infra_running is called once the broker and backend run (Readiness
    prepares its remote control through the broker's published port)."""
    infra = [s for s in project.services if s.role in INFRA_ROLES]
    apps = [s for s in project.services if s.role not in INFRA_ROLES]

    def infra_then_control() -> tuple[list[Change], list[Waiting]]:
        result = converge(docker, project, infra, ids=ids, revisions=revisions)
        infra_running()
        return result

    # Apps are created alongside the broker, not after it: each one's Python and Celery
    # imports outlast a Redis start, and boot.py waits for the broker's port before Celery
    # connects (the engine took ~0.5 s to create and start Redis alone).
    with ThreadPoolExecutor(max_workers=1) as pool:
        infra_job = pool.submit(infra_then_control)
        holder_done, holder = ensure_holder(docker, project, ids)
        apps_done, apps_waiting = converge(
            docker, project, apps, ids=ids, revisions=revisions, holder=holder
        )
        try:
            infra_done, infra_waiting = infra_job.result()
        except StackError as exc:
            raise _halt_apps(docker, apps_done, apps_waiting, exc) from None
    return holder_done + infra_done + apps_done, infra_waiting + apps_waiting


def up(
    path: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    console: Console | None = None,
    dev: DevMode | None = None,
) -> UpResult:
    """Bring the stack to the topology's state and return once every replica is ready.

    dev: under `stack dev`, workers and beat run the app from its mounted copy, so their
    revision leaves the app's files out (an edit reloads them in place instead).
    """
    started = time.monotonic()
    project = open_project(path)
    if dev is not None:
        project = replace(project, services=dev.services(project.topology, project.services))
    docker = docker_client.get()
    with _status(console, f"checking the image of {project.name}") as update:
        app_image = ensure_app_image(docker, project, update)
    ids = image_ids(docker, project, app_image.id)
    code = app_image.code_hash if dev is None else app_image.kit_hash
    revisions = app_revisions(code, project.topology, project.services)
    docker.ensure_network(project.name)
    for service in project.services:
        for volume in service.volumes:
            docker.ensure_volume(project.name, volume_name(project.name, volume), service.name)
    changes = remove_orphans(docker, project)
    readiness = Readiness(docker, project, console)
    deadline = time.monotonic() + timeout
    done, waiting = converge_stack(
        docker, project, ids=ids, revisions=revisions, infra_running=readiness.prepare
    )
    changes += done
    readiness.wait(waiting, deadline, timeout)
    docker.prune_images(project.name)
    return UpResult(
        project=project.name,
        services=[(s.name, s.role, s.replicas) for s in project.services],
        changes=changes,
        image_built=app_image.built,
        flower_url=flower_url(docker, project),
        metrics_url=metrics_url(docker, project),
        flower_user=project.topology.monitor.user if project.topology.monitor.flower else None,
        secrets_file=project.secrets_file.resolve(),
        seconds=time.monotonic() - started,
    )


def flower_url(docker: DockerClient, project: Project) -> str | None:
    from stack.deploy.services import FLOWER_PORT

    return published_url(docker, project, Role.MONITOR, FLOWER_PORT)


def metrics_url(docker: DockerClient, project: Project) -> str | None:
    """The exporter's /metrics on the host; None where the topology runs none."""
    from stack.container.observed import METRICS_PORT

    url = published_url(docker, project, Role.METRICS, METRICS_PORT)
    return None if url is None else f"{url}/metrics"


def published_url(docker: DockerClient, project: Project, role: Role, port: int) -> str | None:
    for container in docker.containers(project.name, role=role):
        published = docker_client.published_port(docker.reload(container), port)
        if published is not None:
            return f"http://{host_address(project.topology)}:{published}"
    return None
