"""The plan's services as Swarm service specs (the Engine API's ServiceSpec, as dicts):
pure, unit-tested; stack/deploy/swarm/apply.py posts them.

- One overlay network per stack; each service is reachable there by its plan name
  (`redis`, `rabbitmq`), as on Docker and in the chart.
- Secrets travel as one Docker secret, the stack's env file, which a small shell prelude
  loads before the service's own command: they appear in no service spec.
- Workers roll start-first (a new replica is up before an old one stops); the broker,
  the backend and beat stop-first and stay on one node, their home (a manager, chosen at
  the first deploy and kept after), where their local volumes are: one of each, never
  two at once, never moved to another manager without their data.
- Ports: published on the node that runs the task (host mode), on all of its addresses:
  Swarm has no host address to bind to, so a topology bound to loopback is refused
  (check_bind). DNS round robin, not virtual IPs: those, and Swarm's routing mesh, need
  the kernel's IPVS, which not every node has (this project's machines lack it).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from typing import Any

from stack.deploy.docker import labels
from stack.deploy.roles import Role
from stack.deploy.services import Service
from stack.errors import StackError
from stack.topology.model import Topology

SECRET_FILE = "stack-env"
# Exports every line of the secret env file, then runs the service's own command.
PRELUDE = f'set -a; . /run/secrets/{SECRET_FILE}; set +a; exec "$@"'
SINGLE = frozenset({Role.BROKER, Role.BACKEND, Role.BEAT})  # one, on the manager
NANO = 1_000_000_000
SPEC_HASH = "io.stack.spec-hash"
HOME = "node.id == "


def home(service_spec: dict[str, Any]) -> str | None:
    """The node a single service is pinned to in its spec; None where it is not."""
    placement = service_spec.get("TaskTemplate", {}).get("Placement") or {}
    for constraint in placement.get("Constraints") or []:
        if constraint.startswith(HOME):
            return str(constraint.removeprefix(HOME)).strip()
    return None


def homes(singles: list[str], existing: dict[str, dict[str, Any]], manager: str) -> dict[str, str]:
    """Each single service's home: where its existing spec pins it, else this manager."""
    return {name: home(existing.get(name, {})) or manager for name in singles}


def network_name(project: str) -> str:
    return f"{project}_default"


def secret_name(project: str, env_text: str) -> str:
    """Docker secrets cannot change: a new content is a new secret, named by its hash."""
    return f"{project}_env_{hashlib.sha256(env_text.encode()).hexdigest()[:12]}"


def env_file(env: dict[str, str]) -> str:
    """The secret env as sh reads it: each value single-quoted."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))


def published_port(project: str, service: str, port: int) -> int:
    """A host-mode port must be named: one of 20000-29999, from the project, service and
    port (the same on every deploy; a fixed one comes from the topology's port keys)."""
    digest = hashlib.sha256(f"{project}/{service}/{port}".encode()).digest()
    return 20000 + int.from_bytes(digest[:4], "big") % 10000


def check_bind(topology: Topology) -> None:
    if topology.bind != "0.0.0.0":
        raise StackError(
            f"bind is {topology.bind}, but Swarm publishes a port on every address of the "
            "node that runs it (it cannot bind one): set `bind: 0.0.0.0` in the topology to "
            "deploy to Swarm, and keep the nodes' addresses private"
        )


def _healthcheck(service: Service) -> dict[str, Any] | None:
    """The service's healthcheck, with the secret env loaded as for its command (a probe
    such as `redis-cli ping` needs the password)."""
    check = service.healthcheck
    if check is None:
        return None
    kind, *rest = check.test
    if kind == "CMD-SHELL":
        test = ["CMD-SHELL", f"set -a; . /run/secrets/{SECRET_FILE}; set +a; {rest[0]}"]
    else:
        test = ["CMD", "sh", "-c", PRELUDE, SECRET_FILE, *rest]
    return {
        "Test": test,
        "Interval": int(check.interval * NANO),
        "Timeout": int(check.timeout * NANO),
        "Retries": check.retries,
        "StartPeriod": int(check.start_period * NANO),
    }


def spec(
    project: str,
    service: Service,
    *,
    secret_id: str,
    secret: str,
    network_id: str,
    home_node: str | None = None,
) -> dict[str, Any]:
    """One service's ServiceSpec, with the hash of itself in its labels (what changed)."""
    container: dict[str, Any] = {
        "Image": service.image,
        "Args": ["sh", "-c", PRELUDE, SECRET_FILE, *service.command],
        "Env": [f"{k}={v}" for k, v in sorted(service.environment.items())],
        "Labels": labels.of(project, service.name, service.role),
        "StopGracePeriod": service.stop_grace_period * NANO,
        "Secrets": [{
            "SecretID": secret_id, "SecretName": secret,
            "File": {"Name": SECRET_FILE, "UID": "0", "GID": "0", "Mode": 0o444},
        }],
        "Mounts": [
            {"Type": "volume", "Source": f"{project}_{name}", "Target": target,
             "VolumeOptions": {"Labels": labels.of(project, service.name, Role.VOLUME)}}
            for name, target in sorted(service.volumes.items())
        ],
        "Init": True,
    }  # fmt: skip
    if service.hostname:
        container["Hostname"] = service.hostname
    health = _healthcheck(service)
    if health is not None:
        container["Healthcheck"] = health
    single = service.role in SINGLE
    # A host-mode port is held by the old task: the new one cannot start beside it.
    stop_first = single or bool(service.ports)
    task: dict[str, Any] = {
        "ContainerSpec": container,
        "RestartPolicy": {"Condition": "any", "Delay": NANO},
        "Networks": [{"Target": network_id, "Aliases": [service.name]}],
    }
    if single:
        where = f"{HOME}{home_node}" if home_node else "node.role == manager"
        task["Placement"] = {"Constraints": [where]}
    out: dict[str, Any] = {
        "Name": f"{project}_{service.name}",
        "Labels": labels.of(project, service.name, service.role),
        "TaskTemplate": task,
        "Mode": {"Replicated": {"Replicas": 1 if single else service.replicas}},
        "UpdateConfig": {
            "Parallelism": 1,
            "Order": "stop-first" if stop_first else "start-first",
            "FailureAction": "pause",
        },
    }
    # DNS round robin, not a virtual IP: Swarm's VIPs and routing mesh need the kernel's
    # IPVS, which not every node has; a port is published on the node its task runs on.
    out["EndpointSpec"] = {"Mode": "dnsrr"}
    if service.ports:
        out["EndpointSpec"]["Ports"] = [
            {
                "Protocol": "tcp",
                "TargetPort": port,
                "PublishMode": "host",
                "PublishedPort": service.host_ports.get(
                    port, published_port(project, service.name, port)
                ),
            }
            for port in service.ports
        ]
    digest = hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()
    out["Labels"][SPEC_HASH] = digest[:16]
    return out


def specs(
    project: str,
    services: list[Service],
    *,
    secret_id: str,
    secret: str,
    network_id: str,
    home_nodes: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every service's spec; home_nodes: service name (PROJECT_NAME) -> its node's id."""
    return [
        spec(
            project,
            s,
            secret_id=secret_id,
            secret=secret,
            network_id=network_id,
            home_node=(home_nodes or {}).get(f"{project}_{s.name}"),
        )
        for s in services
    ]


def singles(project: str, services: list[Service]) -> list[str]:
    """The Swarm names of the services that run once (broker, backend, beat)."""
    return [f"{project}_{s.name}" for s in services if s.role in SINGLE]


def changes(
    wanted: list[dict[str, Any]], existing: dict[str, str]
) -> tuple[list[str], list[str], list[str]]:
    """(to create, to update, to remove) by service name, from the wanted specs and the
    spec hash of each existing service."""
    names = {w["Name"]: w["Labels"][SPEC_HASH] for w in wanted}
    create = sorted(n for n in names if n not in existing)
    update = sorted(n for n in names if n in existing and existing[n] != names[n])
    remove = sorted(n for n in existing if n not in names)
    return create, update, remove
