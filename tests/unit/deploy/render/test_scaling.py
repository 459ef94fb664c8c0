"""A topology twice the size costs twice the work, from validation to rendered files.

Counted in Python function calls, not timed: counts do not depend on the machine's load.
Work that grows with queues x groups (every group's settings canonicalised with all the
routes; every route tried against every other) shows as a ratio near 4.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import pytest

from stack.deploy import services as plan
from stack.deploy.render import compose, helm
from stack.settings import snapshot
from stack.settings.routes import resolve
from stack.topology import yamlio
from stack.topology.load import load_string
from tests.helpers import big_topology

SIZES = (100, 200)  # queues of the benchmark's shape, then twice as many


def validate(text: str) -> None:
    load_string(text, "topology.yaml")


def routes(text: str) -> None:
    resolve(load_string(text, "topology.yaml").topology)


def render(text: str) -> None:
    topology = load_string(text, "topology.yaml").topology
    imgs = plan.images(topology, env={})
    yamlio.dump(compose.render(topology, imgs))
    yamlio.dump(helm.values(topology, imgs))


def build(text: str) -> None:
    """What the image build runs: the settings snapshot, which loads the chart's text too."""
    snapshot.take(load_string(text, "topology.yaml").topology, text.encode())


def calls(step: Callable[[str], None], text: str) -> int:
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1

    re.purge()  # every run compiles its own patterns, as a fresh process does
    sys.setprofile(profile)
    try:
        step(text)
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("step", [validate, routes, render, build])
def test_work_grows_linearly_with_the_topology(step: Callable[[str], None]) -> None:
    texts = [yamlio.dump(big_topology(queues)) for queues in SIZES]
    for text in texts:
        step(text)  # imports and lazily built validators: once per process, not per size
    small, large = (calls(step, text) for text in texts)
    assert large / small < 2.4, f"{small} calls, then {large} for twice the topology"
