"""Rules finds the first matching route as trying each rule with Celery's MapRoute would, and
the kit's task_routes make Celery's router follow that first match (check.py relies on it)."""

from __future__ import annotations

import json

from celery.app.routes import MapRoute
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.settings.routes import Resolver
from stack.settings.rules import Rules, route_key
from stack.topology.load import load_string

# Pieces that meet at prefixes: globs with *, ? and [..], regexes with and without anchors.
PATTERNS = st.sampled_from(
    [
        "t.a", "t.ab", "t.b", "t.x1", "a", "",
        "t.*", "t.a*", "t.?b*", "t.[ab]*", "*", "*b", "t.x*", "t.[*", "u*",
        "re:^t\\.a", "re:.*b$", "re:t\\.x[0-9]", "re:(?i)T\\.A", "re:u",
    ]
)  # fmt: skip
NAMES = st.sampled_from(["t.a", "t.ab", "t.b", "t.bb", "t.x1", "t.x", "T.A", "u", "a", "", "t.["])


def one_by_one(patterns: list[str], name: str) -> str | None:
    """The first rule that Celery's MapRoute, given that rule alone, routes name by."""
    return next((p for p in patterns if MapRoute({route_key(p): "q"})(name)), None)


@settings(max_examples=300, deadline=None)
@given(st.lists(PATTERNS, unique=True, max_size=8), NAMES)
def test_first_is_the_first_rule_celery_matches(patterns: list[str], name: str) -> None:
    assert Rules(patterns).first(name) == one_by_one(patterns, name)


def test_a_glob_is_found_by_its_literal_prefix_only() -> None:
    rules = Rules(["shop.a*", "shop.?z*", "re:^shop", "shop.exact"])
    assert rules.first("shop.abc") == "shop.a*"
    assert rules.first("shop.zz") == "shop.?z*"
    assert rules.first("shop.exact") == "re:^shop"  # earlier in file order
    assert rules.first("other") is None
    assert len(rules) == 4


ROUTED = """\
name: r
app: tasks:app
queues: [q0, q1, q2]
routes:
{routes}
workers:
  w: {{queues: [q0, q1, q2]}}
"""


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(PATTERNS.filter(bool), st.integers(0, 2)), max_size=8), NAMES)
def test_celery_with_the_kits_task_routes_follows_the_first_match(
    routes: list[tuple[str, int]], name: str
) -> None:
    """check.py warns of shadowed routes from Rules, without Celery: the two must agree."""
    table = dict(routes)  # one queue per key, as in a YAML mapping
    lines = "\n".join(f"  {json.dumps(p)}: q{q}" for p, q in table.items())
    topology = load_string(ROUTED.format(routes=lines or "  {}")).topology
    first = Rules(topology.routes).first(name)
    expected = topology.routes[first].queue if first is not None else topology.default_queue
    assert Resolver(topology).queue_of(name) == expected
