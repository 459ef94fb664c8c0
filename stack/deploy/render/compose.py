"""Topology -> Compose Specification dict. Pure: no Docker, no files, no clock."""

from __future__ import annotations

from typing import Any

from stack.deploy import services as plan
from stack.deploy.docker import labels
from stack.deploy.roles import APP_ROLES, Role
from stack.deploy.services import Healthcheck, ImageSet, Service
from stack.topology.model import Topology

ENV_FILE = "stack.env"
BUILD_DIR = "build"
NETWORK = "stack"


def _literal(text: str) -> str:
    """Compose interpolates $VAR at load time; our $ are for the container's shell."""
    return text.replace("$", "$$")


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _healthcheck(check: Healthcheck) -> dict[str, Any]:
    # start_interval is left out: Debian's Docker 20.10 engine does not know it.
    return {
        "test": [_literal(part) for part in check.test],
        "interval": _seconds(min(check.interval, 2.0)),
        "timeout": _seconds(check.timeout),
        "retries": check.retries * 2,
        "start_period": _seconds(check.start_period),
    }


def _ports(service: Service, bind: str) -> list[dict[str, Any]]:
    ports = []
    for port in service.ports:
        entry: dict[str, Any] = {"target": port, "host_ip": bind, "protocol": "tcp"}
        if port in service.host_ports:
            entry["published"] = str(service.host_ports[port])
        ports.append(entry)
    return ports


def service_dict(service: Service, topology: Topology, builds: bool = True) -> dict[str, Any]:
    """builds: this app service builds the shared app image; the others use it as built.
    (With a `build:` each, Compose builds the same image once per service.)"""
    out: dict[str, Any] = {"image": service.image}
    if service.role in APP_ROLES:
        if builds:
            out["build"] = {"context": BUILD_DIR}
        else:
            out["pull_policy"] = "never"
    if service.hostname:
        out["hostname"] = service.hostname
    out["command"] = [_literal(part) for part in service.command]
    if service.environment:
        out["environment"] = {k: _literal(v) for k, v in service.environment.items()}
    if service.secrets:
        out["env_file"] = [ENV_FILE]
    ports = _ports(service, topology.bind)
    if ports:
        out["ports"] = ports
    if service.volumes:
        out["volumes"] = [f"{name}:{path}" for name, path in service.volumes.items()]
    if service.healthcheck:
        out["healthcheck"] = _healthcheck(service.healthcheck)
    if service.depends_on:
        out["depends_on"] = {dep: {"condition": "service_healthy"} for dep in service.depends_on}
    if service.role == Role.WORKER:
        out["deploy"] = {"replicas": service.replicas}
    out["stop_grace_period"] = _seconds(service.stop_grace_period)
    out["restart"] = "unless-stopped"
    out["networks"] = [NETWORK]
    out["labels"] = {
        labels.PROJECT: topology.name,
        labels.SERVICE: service.name,
        labels.ROLE: str(service.role),  # YAML has no representer for the enum
    }
    return out


def render(topology: Topology, imgs: ImageSet) -> dict[str, Any]:
    """The compose file of the whole topology."""
    services = plan.services(topology, imgs)
    builder = next((s for s in services if s.role in APP_ROLES), None)
    volumes: dict[str, dict[str, Any]] = {
        name: {} for service in services for name in service.volumes
    }
    return {
        "name": topology.name,
        "services": {s.name: service_dict(s, topology, s is builder) for s in services},
        "networks": {NETWORK: {}},
        "volumes": volumes,
    }
