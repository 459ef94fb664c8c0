"""Host-side addresses of a running stack: its published ports on the bind address."""

from __future__ import annotations

from stack.deploy.docker import client as docker_client
from stack.deploy.secrets import backend_url, broker_url, ensure
from stack.deploy.services import AMQP_PORT, FLOWER_PORT, REDIS_PORT
from stack.errors import RuntimeStackError
from stack.settings.depths import MANAGEMENT_PORT
from stack.topology.load import Loaded
from stack.topology.model import Topology

_PORTS = {"redis": REDIS_PORT, "rabbitmq": AMQP_PORT, "flower": FLOWER_PORT}


def host_address(topology: Topology) -> str:
    """Where the host reaches published ports: the bind address, loopback for a wildcard."""
    return "127.0.0.1" if topology.bind in ("0.0.0.0", "::", "") else topology.bind


def not_running(topology: Topology) -> RuntimeStackError:
    return RuntimeStackError(f"the stack '{topology.name}' is not running: run `stack up`")


def service_port(topology: Topology, service: str) -> int:
    """The host port of a kit service (redis, rabbitmq, flower) of the running stack."""
    docker = docker_client.get()
    for container in docker.containers(topology.name, service):
        if container.status == "running":
            port = docker_client.published_port(container, _PORTS[service])
            if port is not None:
                return port
    raise not_running(topology)


def management_port(topology: Topology) -> int | None:
    """The host port of RabbitMQ's management API; None where it does not run."""
    for container in docker_client.get().containers(topology.name, "rabbitmq"):
        if container.status == "running":
            port = docker_client.published_port(container, MANAGEMENT_PORT)
            if port is not None:
                return port
    return None


def host_urls(loaded: Loaded) -> tuple[str, str | None]:
    """(broker URL, result backend URL) for a producer on the host, with the stack's secrets."""
    topology = loaded.topology
    secrets = ensure(loaded.base_dir, topology)
    host = host_address(topology)
    ports: dict[str, int] = {}
    from stack.deploy.swarm.apply import on_swarm, published

    swarm = topology.broker.type != "url" and on_swarm(loaded)

    def port(service: str) -> int:  # one engine query per service (Redis may be both)
        nonlocal host
        if service not in ports:
            if swarm:  # the routing mesh publishes it on every node: a manager's address
                host, ports[service] = published(topology.name, service, _PORTS[service])
            else:
                ports[service] = service_port(topology, service)
        return ports[service]

    broker = topology.broker.type
    if broker == "url":
        broker_addr = broker_url(topology, secrets)
    else:
        broker_port = port(broker)  # first: on Swarm it also finds the host
        broker_addr = broker_url(topology, secrets, host, broker_port)
    backend: str | None
    if topology.backend.type == "redis":
        redis_port = port("redis")
        backend = backend_url(topology, secrets, host, redis_port)
    else:
        backend = backend_url(topology, secrets)
    return broker_addr, backend


def masked(url: str | None) -> str | None:
    """A URL safe to print: the password replaced by asterisks."""
    # kombu.utils pulls in importlib.metadata: not on the path of every runtime command.
    from kombu.utils.url import maybe_sanitize_url

    return None if url is None else str(maybe_sanitize_url(url))
