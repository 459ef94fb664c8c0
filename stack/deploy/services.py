"""The services a topology runs, as plain data: compose, Docker and Helm are views of it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from stack.container import health, paths
from stack.container.observed import METRICS_HEALTH, METRICS_PORT
from stack.deploy.roles import Role
from stack.settings.depths import MANAGEMENT_PORT
from stack.topology.model import Topology, WorkerGroup

# Celery's worker and beat commands without the `celery` umbrella's imports (launch.py).
LAUNCH = ("python", "-m", "stack.container.launch")
FLOWER_PORT = 5555
REDIS_PORT = 6379
AMQP_PORT = 5672

# Secret environment variables, kept in the 0600 env file, never in rendered files.
SECRET_KEYS = (
    "STACK_BROKER_URL",
    "STACK_RESULT_BACKEND",
    "REDIS_PASSWORD",
    "REDISCLI_AUTH",
    "RABBITMQ_DEFAULT_USER",
    "RABBITMQ_DEFAULT_PASS",
    "FLOWER_BASIC_AUTH",
)


@dataclass(frozen=True)
class ImageSet:
    python: str
    redis: str
    rabbitmq: str
    app: str


def images(topology: Topology, env: Mapping[str, str] | None = None) -> ImageSet:
    """Images to use: STACK_*_IMAGE from the environment, else the topology's."""
    env = os.environ if env is None else env
    return ImageSet(
        python=env.get("STACK_PYTHON_IMAGE") or topology.images.python,
        redis=env.get("STACK_REDIS_IMAGE") or topology.images.redis,
        rabbitmq=env.get("STACK_RABBITMQ_IMAGE") or topology.images.rabbitmq,
        app=topology.image.name or f"{topology.name}-app:latest",
    )


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: float = 5.0
    timeout: float = 5.0
    retries: int = 12
    start_period: float = 10.0
    start_interval: float = 0.5


@dataclass(frozen=True)
class Service:
    """One service: what compose calls a service and Docker a set of replica containers."""

    name: str
    role: Role
    image: str
    command: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)
    secrets: bool = True  # gets the secrets env file
    ports: tuple[int, ...] = ()  # container ports to publish on topology.bind
    host_ports: dict[int, int] = field(default_factory=dict)  # fixed host ports, else any
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> mount path
    healthcheck: Healthcheck | None = None
    replicas: int = 1
    depends_on: tuple[str, ...] = ()
    stop_grace_period: int = 10
    hostname: str | None = None  # fixed hostname (rabbitmq's node name depends on it)
    # Host directories mounted into the containers (`stack dev`): host path -> (path, mode).
    binds: dict[str, tuple[str, str]] = field(default_factory=dict)


def broker_service(topology: Topology) -> str | None:
    return {"redis": "redis", "rabbitmq": "rabbitmq"}.get(topology.broker.type)


def needs_redis(topology: Topology) -> bool:
    return topology.broker.type == "redis" or topology.backend.type == "redis"


def infrastructure(topology: Topology, imgs: ImageSet) -> list[Service]:
    services = []
    if needs_redis(topology):
        services.append(
            Service(
                name="redis",
                role=Role.BROKER if topology.broker.type == "redis" else Role.BACKEND,
                image=imgs.redis,
                # sh -c: the password comes from the secrets env, never from the command line.
                command=(
                    "sh",
                    "-c",
                    'exec redis-server --requirepass "$REDIS_PASSWORD" --appendonly yes '
                    "--appendfsync everysec --dir /data --save ''",
                ),
                ports=(REDIS_PORT,),
                host_ports={REDIS_PORT: topology.broker.port} if topology.broker.port else {},
                volumes={"redis-data": "/data"},
                healthcheck=Healthcheck(
                    test=("CMD-SHELL", "redis-cli ping | grep -q PONG"), retries=20
                ),
                stop_grace_period=15,
            )
        )
    if topology.broker.type == "rabbitmq":
        timeout_ms = topology.broker.consumer_timeout * 1000
        services.append(
            Service(
                name="rabbitmq",
                role=Role.BROKER,
                image=imgs.rabbitmq,
                command=("rabbitmq-server",),
                environment={
                    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": f"-rabbit consumer_timeout {timeout_ms}",
                    # Flower counts a RabbitMQ queue through the management API only; the
                    # exporter and `stack top` read the oldest message's age there.
                    **(
                        {"RABBITMQ_ENABLED_PLUGINS": "rabbitmq_management"}
                        if management(topology)
                        else {}
                    ),
                },
                ports=(AMQP_PORT, MANAGEMENT_PORT) if management(topology) else (AMQP_PORT,),
                host_ports={AMQP_PORT: topology.broker.port} if topology.broker.port else {},
                volumes={"rabbitmq-data": "/var/lib/rabbitmq/mnesia"},
                healthcheck=Healthcheck(
                    test=("CMD-SHELL", "rabbitmq-diagnostics -q check_running"),
                    interval=5,
                    timeout=10,
                    retries=30,
                    start_period=30,
                    start_interval=1,
                ),
                stop_grace_period=30,
                hostname="rabbitmq",
            )
        )
    return services


def management(topology: Topology) -> bool:
    """Whether RabbitMQ runs its management API (for Flower, the exporter and `stack top`)."""
    return topology.monitor.flower or topology.monitor.metrics


def _depends(topology: Topology) -> tuple[str, ...]:
    deps = [s for s in (broker_service(topology),) if s]
    if topology.backend.type == "redis" and "redis" not in deps:
        deps.append("redis")
    return tuple(deps)


def worker_command(name: str, group: WorkerGroup, topology: Topology) -> tuple[str, ...]:
    cmd = [
        *LAUNCH,
        "worker",
        "-n",
        f"{name}@%h",
        "-Q",
        ",".join(group.queues),
        "-P",
        group.effective_pool,
        "-c",
        str(group.effective_concurrency),
        "--prefetch-multiplier",
        str(group.effective_prefetch_multiplier),
        "-l",
        group.log_level,
    ]
    if topology.monitor.flower:
        cmd.append("-E")
    if group.without_mingle:
        cmd.append("--without-mingle")
    if group.without_gossip:
        cmd.append("--without-gossip")
    if group.embed_beat:
        cmd += ["-B", "-s", f"{paths.BEAT_DIR}/schedule"]
    return tuple(cmd)


def app_environment(topology: Topology) -> dict[str, str]:
    """Every app container's environment: the topology's `env`, then the kit's own."""
    return {
        **topology.env,
        "STACK_TOPOLOGY": paths.TOPOLOGY,
        "STACK_APP_DIR": paths.APP_DIR,
        "STACK_PROJECT": topology.name,
    }


def app_services(topology: Topology, imgs: ImageSet) -> list[Service]:
    deps = _depends(topology)
    services = []
    alive = Healthcheck(test=("CMD-SHELL", health.ALIVE_PROBE), retries=24)
    ready = Healthcheck(test=("CMD-SHELL", health.READY_PROBE), retries=24)
    for name, group in topology.workers.items():
        services.append(
            Service(
                name=name,
                role=Role.WORKER,
                image=imgs.app,
                command=worker_command(name, group, topology),
                environment={**app_environment(topology), "STACK_GROUP": name, **group.env},
                # A solo worker runs tasks on its event loop, so a long task would stop the
                # alive file: only readiness is checked there.
                healthcheck=ready if group.effective_pool == "solo" else alive,
                replicas=group.replicas,
                depends_on=deps,
                stop_grace_period=group.effective_grace_period,
            )
        )
    if topology.beat:
        services.append(
            Service(
                name="beat",
                role=Role.BEAT,
                image=imgs.app,
                command=(
                    *LAUNCH,
                    "beat",
                    "-s",
                    f"{paths.BEAT_DIR}/schedule",
                    "--pidfile=",
                    "-l",
                    "INFO",
                ),
                environment=app_environment(topology),
                volumes={"beat-data": paths.BEAT_DIR},
                healthcheck=Healthcheck(test=("CMD-SHELL", health.READY_PROBE)),
                depends_on=deps,
            )
        )
    if topology.monitor.flower:
        probe = (
            "import urllib.request as u; "
            f"u.urlopen('http://127.0.0.1:{FLOWER_PORT}/healthcheck', timeout=3)"
        )
        services.append(
            Service(
                name="flower",
                role=Role.MONITOR,
                image=imgs.app,
                # FLOWER_BASIC_AUTH comes from the secrets env: Flower refuses no one without it.
                command=(
                    "celery",
                    "-A",
                    "stack.container.monitor:app",
                    "flower",
                    f"--port={FLOWER_PORT}",
                    "--address=0.0.0.0",
                ),
                environment=app_environment(topology),
                ports=(FLOWER_PORT,),
                host_ports={FLOWER_PORT: topology.monitor.port} if topology.monitor.port else {},
                healthcheck=Healthcheck(test=("CMD", "python", "-c", probe)),
                depends_on=deps,
            )
        )
    if topology.monitor.metrics:
        # /healthz, not a scrape: each scrape asks the broker and every worker.
        probe = (
            "import urllib.request as u; "
            f"u.urlopen('http://127.0.0.1:{METRICS_PORT}{METRICS_HEALTH}', timeout=3)"
        )
        services.append(
            Service(
                name="metrics",
                role=Role.METRICS,
                image=imgs.app,
                command=("python", "-m", "stack.container.exporter"),
                environment=app_environment(topology),
                ports=(METRICS_PORT,),
                host_ports=(
                    {METRICS_PORT: topology.monitor.metrics_port}
                    if topology.monitor.metrics_port
                    else {}
                ),
                healthcheck=Healthcheck(test=("CMD", "python", "-c", probe)),
                depends_on=deps,
            )
        )
    return services


def services(topology: Topology, imgs: ImageSet) -> list[Service]:
    """Every service of the topology, infrastructure first."""
    return infrastructure(topology, imgs) + app_services(topology, imgs)
