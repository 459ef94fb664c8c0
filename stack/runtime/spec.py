"""Plan services -> the containers that run them: names, env, ports, health, config hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from ..model import Topology
from ..plan import Healthcheck, Service
from ..secrets import Secrets, container_env
from . import labels

NANOSECONDS = 1_000_000_000
# Docker 20.10 has no start_interval: probe often (as the compose view does) and allow more
# retries, so a container turns healthy within ~2 s of being ready.
MAX_PROBE_INTERVAL = 2.0


@dataclass(frozen=True)
class ContainerSpec:
    """Everything Docker needs to create one replica; its hash decides whether to recreate."""

    project: str
    service: str
    role: str
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
    healthcheck: dict[str, object] | None = None
    stop_timeout: int = 10
    init: bool = True

    @property
    def name(self) -> str:
        return container_name(self.project, self.service, self.replica)

    @property
    def config_hash(self) -> str:
        """Hash of what the container runs (its replica number and image id aside)."""
        data = asdict(self)
        data.pop("replica")
        data.pop("image_id")
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def labels(self) -> dict[str, str]:
        return labels.of(self.project, self.service, self.role, self.replica, self.config_hash)


def container_name(project: str, service: str, replica: int) -> str:
    return f"{project}-{service}-{replica}"


def volume_name(project: str, volume: str) -> str:
    return f"{project}-{volume}"


def healthcheck(check: Healthcheck) -> dict[str, object]:
    """The plan's healthcheck in the Docker API's terms (durations in nanoseconds)."""
    interval = min(check.interval, MAX_PROBE_INTERVAL)
    retries = max(check.retries, round(check.retries * check.interval / interval))
    return {
        "test": list(check.test),
        "interval": int(interval * NANOSECONDS),
        "timeout": int(check.timeout * NANOSECONDS),
        "retries": retries,
        "start_period": int(check.start_period * NANOSECONDS),
    }


def container_specs(
    service: Service,
    topology: Topology,
    secrets: Secrets,
    image_id: str,
    replicas: int | None = None,
    revision: str | None = None,
) -> list[ContainerSpec]:
    """One spec per replica, numbered from 1; replicas overrides the plan's count; revision
    (default: the image id) stands for the image in the config hash."""
    count = service.replicas if replicas is None else replicas
    env = {**service.environment}
    if service.secrets:
        env.update(container_env(topology, secrets))
    ports: dict[str, tuple[str, int | None]] = {
        f"{port}/tcp": (topology.bind, service.host_ports.get(port)) for port in service.ports
    }
    volumes = {volume_name(topology.name, v): path for v, path in service.volumes.items()}
    specs = []
    for replica in range(1, count + 1):
        name = container_name(topology.name, service.name, replica)
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
                aliases=(service.name,),
                # Unique per replica: Celery node names are GROUP@%h.
                hostname=service.hostname or name,
                ports=ports,
                volumes=volumes,
                healthcheck=healthcheck(service.healthcheck) if service.healthcheck else None,
                stop_timeout=service.stop_grace_period,
            )
        )
    return specs
