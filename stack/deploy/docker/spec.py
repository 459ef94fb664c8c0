"""Plan services -> the containers that run them: names, env, ports, health, config hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from stack.container import devstate
from stack.deploy.docker import labels
from stack.deploy.roles import Role
from stack.deploy.secrets import Secrets, container_env
from stack.deploy.services import Healthcheck, Service
from stack.topology.model import Topology

NANOSECONDS = 1_000_000_000
# Each probe is an exec through dockerd, containerd and runc: ~60 ms of CPU. Probing every 2 s
# (as the compose view does) kept the idle colour stack at 16% of this 2-core machine, 6.5%
# at 30 s, and its bursts land on task latency. `stack up` checks readiness itself through
# the broker, so Docker's health is only for people reading `docker ps`: probe at Docker's
# default 30 s, and, on engines that know start_interval (Docker 25, API 1.44), every second
# while the container starts.
PROBE_INTERVAL = 30.0
START_INTERVAL = 1.0
START_INTERVAL_API = (1, 44)


@dataclass(frozen=True)
class ContainerSpec:
    """Everything Docker needs to create one replica; its hash decides whether to recreate."""

    project: str
    service: str
    role: Role
    replica: int
    image: str
    image_id: str  # what the container is created from; not hashed, revision is
    revision: str  # the image id, or for the app image revision.app_revisions' digest
    command: tuple[str, ...]
    environment: dict[str, str]
    network: str
    aliases: tuple[str, ...]
    hostname: str
    ports: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)  # docker volume name -> mount path
    binds: dict[str, tuple[str, str]] = field(default_factory=dict)  # host path -> (path, mode)
    healthcheck: dict[str, object] | None = None
    stop_timeout: int = 10
    init: bool = True
    # The container whose network namespace this one joins (netns.py), else its own on
    # `network`: no ports, aliases or hostname of its own then.
    join: str | None = None

    @property
    def name(self) -> str:
        return container_name(self.project, self.service, self.replica)

    @property
    def config_hash(self) -> str:
        """Hash of what the container runs (its replica number and image id aside)."""
        data = asdict(self)
        data.pop("replica")
        data.pop("image_id")
        if not data["binds"]:  # only `stack dev` mounts: other containers keep their hash
            data.pop("binds")
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def run_command(self) -> tuple[str, ...]:
        """The command as started: a joined container has the holder's hostname, so Celery's
        `%h` (node names GROUP@%h) becomes this replica's own hostname, its container name."""
        if self.join is None:
            return self.command
        return tuple(arg.replace("%h", self.hostname) for arg in self.command)

    @property
    def labels(self) -> dict[str, str]:
        return labels.of(
            self.project,
            self.service,
            self.role,
            replica=self.replica,
            config_hash=self.config_hash,
        )


def container_name(project: str, service: str, replica: int) -> str:
    return f"{project}-{service}-{replica}"


def volume_name(project: str, volume: str) -> str:
    return f"{project}-{volume}"


def healthcheck(check: Healthcheck) -> dict[str, object]:
    """The plan's healthcheck in the Docker API's terms (durations in nanoseconds), probing
    every PROBE_INTERVAL with as many retries as fit the plan's time to turn unhealthy."""
    interval = max(check.interval, PROBE_INTERVAL)
    retries = max(1, round(check.retries * check.interval / interval))
    return {
        "Test": list(check.test),
        "Interval": int(interval * NANOSECONDS),
        "Timeout": int(check.timeout * NANOSECONDS),
        "Retries": retries,
        "StartPeriod": int(check.start_period * NANOSECONDS),
        "StartInterval": int(START_INTERVAL * NANOSECONDS),
    }


def for_engine(check: dict[str, object], api_version: str) -> dict[str, object]:
    """The healthcheck an engine of this API version accepts: StartInterval needs 1.44."""
    major, _, minor = api_version.partition(".")
    if (int(major), int(minor or 0)) >= START_INTERVAL_API:
        return dict(check)
    return {key: value for key, value in check.items() if key != "StartInterval"}


def container_specs(
    service: Service,
    topology: Topology,
    secrets: Secrets,
    image_id: str,
    *,
    revision: str | None = None,
    join: str | None = None,
) -> list[ContainerSpec]:
    """One spec per replica of service, numbered from 1; revision (default: the image id)
    stands for the image in the config hash; join: the container whose network namespace
    the replicas share (netns.py)."""
    env = {**service.environment}
    if service.secrets:
        env.update(container_env(topology, secrets))
    ports: dict[str, tuple[str, int | None]] = {
        f"{port}/tcp": (topology.bind, service.host_ports.get(port)) for port in service.ports
    }
    volumes = {volume_name(topology.name, v): path for v, path in service.volumes.items()}
    specs = []
    for replica in range(1, service.replicas + 1):
        name = container_name(topology.name, service.name, replica)
        if service.binds and devstate.ENV_STATE in env:  # where `stack dev` reads its record
            env = {**env, devstate.ENV_ID: name}
        specs.append(
            ContainerSpec(
                project=topology.name,
                service=service.name,
                role=service.role,
                replica=replica,
                image=service.image,
                image_id=image_id,
                revision=revision or image_id,
                command=service.command,
                environment=env,
                network=topology.name,
                # The service name resolves on the project network (redis://redis:6379).
                aliases=(service.name,) if join is None else (),
                # Unique per replica: Celery node names are GROUP@%h.
                hostname=service.hostname or name,
                ports=ports,
                volumes=volumes,
                binds=dict(service.binds),
                healthcheck=healthcheck(service.healthcheck) if service.healthcheck else None,
                stop_timeout=service.stop_grace_period,
                join=join,
            )
        )
    return specs
