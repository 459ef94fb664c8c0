"""Roles are one type with one table of sets: each role in the sets it belongs to, the plan's
services carrying theirs, and no module of the kit spelling a role as a string."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stack.deploy import roles
from stack.deploy import services as plan
from stack.deploy.docker import netns
from stack.deploy.roles import Role
from stack.topology.load import load_string
from tests.helpers import COLORS, ROOT

SETS = {
    "APP_ROLES": roles.APP_ROLES,
    "INFRA_ROLES": roles.INFRA_ROLES,
    "JOINING_ROLES": roles.JOINING_ROLES,
    "STOPPED_LAST": roles.STOPPED_LAST,
    "DEV_ROLES": roles.DEV_ROLES,
}
EXPECTED = {
    Role.BROKER: {"INFRA_ROLES", "STOPPED_LAST"},
    Role.BACKEND: {"INFRA_ROLES", "STOPPED_LAST"},
    Role.WORKER: {"APP_ROLES", "JOINING_ROLES", "DEV_ROLES"},
    Role.BEAT: {"APP_ROLES", "JOINING_ROLES", "DEV_ROLES"},
    Role.MONITOR: {"APP_ROLES"},
    Role.METRICS: {"APP_ROLES"},
    Role.NETNS: {"STOPPED_LAST"},
    Role.TASKS: set(),
    Role.NETWORK: set(),
    Role.VOLUME: set(),
    Role.IMAGE: set(),
}


def test_every_role_is_in_exactly_the_sets_it_belongs_to() -> None:
    assert set(EXPECTED) == set(Role)
    for role in Role:
        assert {name for name, members in SETS.items() if role in members} == EXPECTED[role], role
    # The table is all of them: a new set in roles.py is added here and to EXPECTED.
    found = {n for n, v in vars(roles).items() if isinstance(v, frozenset) and n.isupper()}
    assert found == set(SETS)


def test_roles_are_their_label_strings() -> None:
    assert {str(r) for r in Role} == {r.value for r in Role}
    assert f"{Role.WORKER}" == "worker"
    assert "broker" in roles.INFRA_ROLES  # a label read back from Docker is a plain str


@pytest.mark.parametrize(
    ("source", "redis_role"),
    [("topology.yaml", Role.BROKER), ("topology-rabbitmq.yaml", Role.BACKEND)],
)
def test_the_plan_gives_each_service_its_role(source: str, redis_role: Role) -> None:
    topology = load_string((COLORS / source).read_text(encoding="utf-8"), source).topology
    imgs = plan.images(topology, env={})
    by_name = {s.name: s.role for s in plan.services(topology, imgs)}
    expected = {"redis": redis_role, "beat": Role.BEAT, "flower": Role.MONITOR,
                "metrics": Role.METRICS}  # fmt: skip
    expected |= {group: Role.WORKER for group in topology.workers}
    if topology.broker.type == "rabbitmq":
        expected["rabbitmq"] = Role.BROKER
    assert by_name == expected
    assert netns.holder_service(topology, imgs).role == Role.NETNS


# -- no role spelt as a string outside roles.py -------------------------------------------------


def _is_role_key(node: ast.AST) -> bool:
    """labels.ROLE or ROLE: the label key whose value is a role."""
    return (isinstance(node, ast.Attribute) and node.attr == "ROLE") or (
        isinstance(node, ast.Name) and node.id == "ROLE"
    )


def _is_role(node: ast.AST) -> bool:
    """An expression that holds a role: x.role, role, c.labels.get(labels.ROLE), d[ROLE]."""
    if isinstance(node, ast.Attribute) and node.attr == "role":
        return True
    if isinstance(node, ast.Name) and node.id == "role":
        return True
    if isinstance(node, ast.Call):
        return any(_is_role_key(arg) for arg in node.args)
    return isinstance(node, ast.Subscript) and _is_role_key(node.slice)


def _strings(node: ast.AST) -> list[str]:
    """String literals of node: a constant, or the items of a literal tuple, list or set
    (also inside frozenset(...) / set(...)), or either branch of a conditional."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for item in node.elts for s in _strings(item)]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        return _strings(node.args[0]) if node.func.id in ("frozenset", "set", "tuple") else []
    return []


def role_literals(source: str, filename: str = "<text>") -> list[str]:
    """Where source compares a role to a string, passes role="...", keys a lookup by role
    with strings, or defines a *_ROLE(S) constant of role strings."""
    names = {r.value for r in Role}
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_role(o) for o in operands) and any(_strings(o) for o in operands):
                found.append(f"{where}: a role compared to a string")
        elif isinstance(node, ast.keyword) and node.arg == "role" and _strings(node.value):
            found.append(f"{where}: role= a string")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # {"worker": ...}.get(service.role)
            table = node.func.value
            keys = table.keys if isinstance(table, ast.Dict) else []
            if any(_is_role(a) for a in node.args) and any(_strings(k) for k in keys if k):
                found.append(f"{where}: a lookup by role keyed by strings")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            named = [t.id for t in targets if isinstance(t, ast.Name)]
            constant = any(n.endswith(("ROLE", "ROLES")) for n in named)
            if constant and node.value is not None and set(_strings(node.value)) & names:
                found.append(f"{where}: a role constant of strings")
    return found


def test_the_role_check_finds_each_kind_of_string_role() -> None:
    bad = """
if service.role == "worker": pass
if c.labels.get(labels.ROLE) in ("broker", "backend"): pass
Service(name="x", role="beat")
Service(name="y", role=Role.BROKER if redis else "backend")
probe = {"monitor": flower}.get(service.role)
INFRA_ROLES = ("broker", "backend")
"""
    assert len(role_literals(bad)) == 6
    good = """
if service.role == Role.WORKER: pass
if c.labels.get(labels.ROLE) in STOPPED_LAST: pass
if service.name == "flower": pass
ROLE = "io.stack.role"
"""
    assert role_literals(good) == []


def test_no_module_of_the_kit_spells_a_role_as_a_string() -> None:
    package = ROOT / "stack"
    found = [
        hit
        for path in sorted(package.rglob("*.py"))
        if path != Path(roles.__file__)
        for hit in role_literals(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert found == []
