"""The Swarm edge: the stack's services, network and secret on the Swarm of the current
Docker engine (a manager), through the Docker SDK; and what `stack ps`, `scale`, `logs`,
`top` and `down` do there. What to change is decided in plan.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from stack.deploy import services as plan
from stack.deploy.docker import client as docker_client
from stack.deploy.docker import labels
from stack.deploy.docker.client import errors
from stack.deploy.ops.logs import interleave
from stack.deploy.ops.project import Project
from stack.deploy.roles import Role
from stack.deploy.secrets import STATE_DIR, container_env, ensure
from stack.deploy.swarm import plan as swarm
from stack.deploy.swarm import tasks as swarm_tasks
from stack.errors import RuntimeStackError, StackError
from stack.topology.load import Loaded

Say = Callable[[str], None]


def sdk() -> Any:
    return docker_client.get().sdk


def is_manager(client: Any) -> bool:
    with errors("ask the engine about its Swarm"):
        info = client.info()
    return bool(info.get("Swarm", {}).get("ControlAvailable"))


def require_manager(client: Any) -> None:
    if not is_manager(client):
        raise StackError(
            "the Docker engine is no Swarm manager: point DOCKER_HOST (or the Docker context) "
            "at one (`docker swarm init` makes this engine one; scripts/swarm-lab makes a lab)"
        )


def services_of(client: Any, project: str) -> list[Any]:
    with errors("list Swarm services"):
        return list(client.services.list(filters={"label": f"{labels.PROJECT}={project}"}))


def marker(loaded: Loaded) -> Path:
    """Written by a Swarm deploy, removed by its down: only then do the other commands ask
    the engine about Swarm (`docker info` costs every command otherwise)."""
    return loaded.base_dir / STATE_DIR / f"{loaded.topology.name}.swarm"


def on_swarm(loaded: Loaded) -> bool:
    """Whether this project was deployed to Swarm and the current engine is a manager
    running its services."""
    if not marker(loaded).exists():
        return False
    client = sdk()
    try:
        return is_manager(client) and bool(services_of(client, loaded.topology.name))
    except RuntimeStackError:
        return False


def _network(client: Any, project: str) -> str:
    name = swarm.network_name(project)
    with errors(f"create network {name}"):
        found = client.networks.list(names=[name])
        if found:
            return str(found[0].id)
        created = client.networks.create(
            name, driver="overlay", attachable=True, labels=labels.of(project, "", Role.NETWORK)
        )
        return str(created.id)


def _secret(client: Any, project: str, text: str) -> tuple[str, str]:
    name = swarm.secret_name(project, text)
    with errors(f"create secret {name}"):
        found = [s for s in client.secrets.list(filters={"name": name}) if s.name == name]
        if found:
            return str(found[0].id), name
        secret = client.secrets.create(
            name=name, data=text.encode(), labels=labels.of(project, "", Role.VOLUME)
        )
        return str(secret.id), name


def _kwargs(wanted: dict[str, Any]) -> dict[str, Any]:
    """A ServiceSpec as docker-py's create_service/update_service take it."""
    out = {
        "task_template": wanted["TaskTemplate"],
        "name": wanted["Name"],
        "labels": wanted["Labels"],
        "mode": wanted["Mode"],
        "update_config": wanted["UpdateConfig"],
    }
    if "EndpointSpec" in wanted:
        out["endpoint_spec"] = wanted["EndpointSpec"]
    return out


def deploy(project: Project, app_image: str, say: Say, timeout: float = 300) -> list[str]:
    """Create or update the stack's services; wait until every replica runs and every
    worker answers. Returns "created|updated|removed NAME" lines."""
    topology = project.topology
    swarm.check_bind(topology)
    client = sdk()
    require_manager(client)
    # Nodes pull the topology's own images: STACK_*_IMAGE name this machine's copies.
    imgs = replace(plan.images(topology, env={}), app=app_image)
    services = plan.services(topology, imgs)
    secrets = ensure(project.loaded.base_dir, topology)
    network_id = _network(client, project.name)
    secret_id, secret = _secret(
        client, project.name, swarm.env_file(container_env(topology, secrets))
    )
    existing = {s.name: s for s in services_of(client, project.name)}
    homes = swarm.homes(
        swarm.singles(project.name, services),
        {n: s.attrs["Spec"] for n, s in existing.items()},
        manager=_node_id(client),
    )
    wanted = swarm.specs(project.name, services, secret_id=secret_id, secret=secret,
                         network_id=network_id, home_nodes=homes)  # fmt: skip
    hashes = {
        n: str(s.attrs["Spec"]["Labels"].get(swarm.SPEC_HASH, "")) for n, s in existing.items()
    }
    create, update, remove = swarm.changes(wanted, hashes)
    by_name = {w["Name"]: w for w in wanted}
    done: list[str] = []
    with errors("deploy to Swarm"):
        # The broker first: the apps wait for it anyway.
        for name in sorted(create, key=lambda n: by_name[n]["Labels"][labels.ROLE] not in
                           (Role.BROKER, Role.BACKEND)):  # fmt: skip
            say(f"creating {name}")
            client.api.create_service(**_kwargs(by_name[name]))
            done.append(f"created {name}")
        for name in update:
            say(f"updating {name}")
            current = existing[name]
            current.reload()
            client.api.update_service(current.id, current.version, **_kwargs(by_name[name]))
            done.append(f"updated {name}")
        for name in remove:
            existing[name].remove()
            done.append(f"removed {name}")
    # What this deploy changed; a group scaled by hand and otherwise unchanged stays so.
    wanted_replicas = {n: replicas(by_name[n]) for n in create + update}
    wait_running(client, project.name, wanted_replicas, say=say, timeout=timeout)
    for name in update:
        wait_rolled(client, name, timeout)
    marker(project.loaded).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    marker(project.loaded).write_text(f"{project.name}\n", encoding="utf-8")
    return done


def _node_id(client: Any) -> str:
    """The Swarm node of the engine this deploy talks to (a manager)."""
    with errors("ask the engine about its Swarm"):
        return str(client.info()["Swarm"]["NodeID"])


def wait_rolled(client: Any, name: str, timeout: float) -> None:
    """Until the update of service name has rolled out (its old tasks count as running
    while a start-first update goes on); an update Swarm paused is an error."""
    deadline = time.monotonic() + timeout
    while True:
        with errors(f"inspect {name}"):
            service = client.services.get(name)
        state = (service.attrs.get("UpdateStatus") or {}).get("State", "completed")
        if state == "completed":
            return
        if state in ("paused", "rollback_started", "rollback_paused", "rollback_completed"):
            message = (service.attrs.get("UpdateStatus") or {}).get("Message", "")
            raise RuntimeStackError(f"the update of {name} stopped ({state}): {message}")
        if time.monotonic() > deadline:
            raise RuntimeStackError(f"the update of {name} is still {state} after {timeout:.0f} s")
        time.sleep(1)


def replicas(spec: dict[str, Any]) -> int:
    return int(spec["Mode"]["Replicated"]["Replicas"])


def ready_nodes(client: Any) -> set[str]:
    with errors("list Swarm nodes"):
        return {n.id for n in client.nodes.list() if n.attrs["Status"]["State"] == "ready"}


def live_tasks(service: Any, ready: set[str]) -> list[Mapping[str, Any]]:
    """Tasks of service that run, on a node that is up (tasks.live)."""
    return swarm_tasks.live(service.tasks(filters={"desired-state": "running"}), ready)


def running(client: Any, service: Any) -> int:
    """Tasks of service running its current spec (an update's old tasks do not count)."""
    return len(live_tasks(service, ready_nodes(client)))


def wait_running(
    client: Any, project: str, wanted: dict[str, int], *, say: Say, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with errors("list Swarm tasks"):
            counts = {s.name: running(client, s) for s in services_of(client, project)}
        short = {n: (counts.get(n, 0), r) for n, r in wanted.items() if counts.get(n, 0) < r}
        if not short:
            return
        if time.monotonic() > deadline:
            detail = ", ".join(f"{n} {c}/{r}" for n, (c, r) in sorted(short.items()))
            raise RuntimeStackError(f"not every replica runs after {timeout:.0f} s: {detail}")
        say("waiting for " + ", ".join(f"{n} {c}/{r}" for n, (c, r) in sorted(short.items())))
        time.sleep(1)


def scale(project: str, wanted: dict[str, int], say: Say, timeout: float = 180) -> None:
    client = sdk()
    found = {s.attrs["Spec"]["Labels"].get(labels.SERVICE): s for s in services_of(client, project)}
    with errors("scale Swarm services"):
        for group, count in wanted.items():
            if group not in found:
                raise StackError(f"no service {group} of {project} on this Swarm")
            # The current spec with other replicas: docker-py's Service.scale rewrites the
            # task template (empty DNSConfig, Placement), and Swarm then restarts every replica.
            spec = {**found[group].attrs["Spec"], "Mode": {"Replicated": {"Replicas": count}}}
            client.api.update_service(found[group].id, found[group].version, **_kwargs(spec))
    counts = {found[g].name: n for g, n in wanted.items()}
    wait_running(client, project, counts, say=say, timeout=timeout)


def status(project: str) -> list[dict[str, Any]]:
    """Per service: its name, role, replicas running/desired and the nodes they run on."""
    client = sdk()
    with errors("list Swarm nodes"):
        nodes = {n.id: n.attrs["Description"]["Hostname"] for n in client.nodes.list()}
        names = {
            n.id: n.attrs["Spec"].get("Labels", {}).get("stack.lab") for n in client.nodes.list()
        }
    rows = []
    ready = ready_nodes(client)
    for service in sorted(services_of(client, project), key=lambda s: s.name):
        with errors(f"list the tasks of {service.name}"):
            tasks = live_tasks(service, ready)
        spec_labels = service.attrs["Spec"]["Labels"]
        rows.append({
            "service": spec_labels.get(labels.SERVICE),
            "role": spec_labels.get(labels.ROLE),
            "running": len(tasks),
            "desired": swarm_tasks.desired(service.attrs),
            "nodes": sorted(names.get(t["NodeID"]) or nodes.get(t["NodeID"], "?") for t in tasks),
        })  # fmt: skip
    return rows


def workers(project: str, groups: Iterable[str]) -> dict[str, swarm_tasks.Replicas]:
    """Per worker group with a service: its replicas, running (a live task) and desired,
    and the Celery node names of the running ones, over every node."""
    client = sdk()
    ready = ready_nodes(client)
    found = {}
    for service in services_of(client, project):
        group = service.attrs["Spec"]["Labels"].get(labels.SERVICE)
        if group in groups:
            with errors(f"list the tasks of {service.name}"):
                running = live_tasks(service, ready)
            found[group] = swarm_tasks.replicas(group, service.attrs, running)
    return found


def read_file(project: str, services: set[str], path: str) -> tuple[str | None, str]:
    """(the text of path in a running task of one of services, or why not, a phrase after
    the service's name): read by exec, which the engine runs in its own node's only."""
    client = sdk()
    with errors("ask the engine about its Swarm"):
        here = str(client.info().get("Swarm", {}).get("NodeID", ""))
    ready = ready_nodes(client)
    tasks: list[Mapping[str, Any]] = []
    for service in services_of(client, project):
        if service.attrs["Spec"]["Labels"].get(labels.SERVICE) in services:
            with errors(f"list the tasks of {service.name}"):
                tasks += live_tasks(service, ready)
    container_id, why = swarm_tasks.container_here(tasks, here)
    if container_id is None:
        return None, why
    import docker.errors

    try:
        with errors(f"find container {container_id[:12]}"):
            container = client.containers.get(container_id)
    except (RuntimeStackError, docker.errors.NotFound):  # the task ended a moment ago
        return None, "ended a moment ago"
    text = docker_client.get().exec_output(container, ["cat", path])
    return text, "" if text is not None else "could not be read (exec failed)"


def published(project: str, service: str, target: int) -> tuple[str, int]:
    """A manager's address and the port Swarm published target of service on."""
    client = sdk()
    for found in services_of(client, project):
        if found.attrs["Spec"]["Labels"].get(labels.SERVICE) != service:
            continue
        for port in found.attrs.get("Endpoint", {}).get("Ports", []):
            if port.get("TargetPort") == target and port.get("PublishedPort"):
                with errors("find a manager's address"):
                    manager = next(n for n in client.nodes.list(filters={"role": "manager"}))
                address = manager.attrs["ManagerStatus"]["Addr"].rpartition(":")[0]
                return address, int(port["PublishedPort"])
    raise RuntimeStackError(f"{project}: no published port {target} of {service} on this Swarm")


def down(project: str, say: Say, *, volumes: bool = False) -> list[str]:
    """Remove the services (apps first, the broker last), wait until their tasks are gone,
    then the network and the secrets; with volumes, the manager's volumes of the stack."""
    client = sdk()
    removed = []
    found = services_of(client, project)
    infra = (Role.BROKER, Role.BACKEND)

    def role(service: Any) -> str:
        return str(service.attrs["Spec"]["Labels"].get(labels.ROLE))

    apps = [s for s in found if role(s) not in infra]
    servers = [s for s in found if role(s) in infra]
    with errors("remove Swarm services"):
        for group in (apps, servers):
            for service in group:
                say(f"removing {service.name}")
                service.remove()
                removed.append(f"service {service.name}")
            deadline = time.monotonic() + 120
            while _containers(client, project, group):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        for network in client.networks.list(names=[swarm.network_name(project)]):
            _retry(network.remove)
            removed.append(f"network {network.name}")
        for secret in client.secrets.list(filters={"label": f"{labels.PROJECT}={project}"}):
            secret.remove()
            removed.append(f"secret {secret.name}")
        for volume in client.volumes.list(
            filters={"label": f"com.docker.stack.namespace={project}"}
        ):
            volume.remove()
        for volume in (
            client.volumes.list(filters={"label": f"{labels.PROJECT}={project}"})
            if (volumes)
            else []
        ):
            _retry(volume.remove)
            removed.append(f"volume {volume.name}")
    return removed


def _containers(client: Any, project: str, services: list[Any]) -> list[dict[str, Any]]:
    """The manager's containers of services, still there (tasks end asynchronously). The
    list call alone: inspecting each one races with its removal."""
    names = {s.name for s in services}
    found = client.api.containers(all=True, filters={"label": f"{labels.PROJECT}={project}"})
    return [
        c for c in found if (c.get("Labels") or {}).get("com.docker.swarm.service.name") in names
    ]


def _retry(action: Callable[[], Any], seconds: float = 30) -> None:
    """Swarm frees a network or volume a moment after the last task using it ended."""
    import docker.errors

    deadline = time.monotonic() + seconds
    while True:
        try:
            action()
            return
        except docker.errors.APIError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def logs(
    project: str, service: str | None, tail: int | None, *, follow: bool = False
) -> Iterator[tuple[str, str]]:
    """(task, line) of each service's logs as Swarm gathers them from every node: service
    by service, or with follow every service's at once, as the lines come, until ^C."""
    client = sdk()
    found = sorted(services_of(client, project), key=lambda s: s.name)
    if service is not None:
        found = [s for s in found if s.attrs["Spec"]["Labels"].get(labels.SERVICE) == service]
        if not found:
            raise StackError(f"no service {service} of {project} on this Swarm")
    names: dict[str, str] = {}
    with errors("list Swarm tasks"):
        for item in found:
            names.update(swarm_tasks.task_names(item.name, item.tasks()))
    since = tail if tail is not None else "all"

    def stream(item: Any) -> Callable[[], Iterable[bytes]]:
        def open_stream() -> Iterable[bytes]:
            with errors(f"logs of {item.name}"):
                chunks: Iterable[bytes] = item.logs(
                    stdout=True, stderr=True, timestamps=False, tail=since, details=True,
                    follow=follow,
                )  # fmt: skip
            return chunks

        return open_stream

    if follow:
        for name, line in interleave({item.name: stream(item) for item in found}):
            yield swarm_tasks.split_details(line, names, name)
        return
    for item in found:
        with errors(f"logs of {item.name}"):
            data = b"".join(stream(item)())
        for line in data.splitlines():
            yield swarm_tasks.split_details(line, names, item.name)
