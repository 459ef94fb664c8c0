"""The labels stamped on every Docker resource the kit creates; teardown goes by them."""

from __future__ import annotations

from stack.deploy.roles import Role

PREFIX = "io.stack."
PROJECT = "io.stack.project"
SERVICE = "io.stack.service"
ROLE = "io.stack.role"
REPLICA = "io.stack.replica"
CONFIG_HASH = "io.stack.config-hash"
# On the app image: the hash of its build context without the topology (build.code_hash).
CODE_HASH = "io.stack.code-hash"
# On the app image: the sha256 of the topology file it holds.
TOPOLOGY_HASH = "io.stack.topology-sha256"


def of(
    project: str, service: str, role: Role, *, replica: int | None = None, config_hash: str = ""
) -> dict[str, str]:
    """Every label key, always present, so a filter on any of them finds every resource."""
    return {
        PROJECT: project,
        SERVICE: service,
        ROLE: str(role),
        REPLICA: "" if replica is None else str(replica),
        CONFIG_HASH: config_hash,
    }


def selector(project: str, service: str | None = None, role: Role | None = None) -> list[str]:
    """A Docker `label` filter: key=value terms, all of which must match."""
    terms = [f"{PROJECT}={project}"]
    if service is not None:
        terms.append(f"{SERVICE}={service}")
    if role is not None:
        terms.append(f"{ROLE}={role}")
    return terms
