"""Cross-references and traps: what no single value shows, only the whole topology.

Returns findings as (severity, key path, message); load.py adds file and line.
"""

from __future__ import annotations

import difflib
import re

from stack.settings.celeryconf import helper_queue
from stack.settings.helpers import FOLLOWING, MAPPERS, reachable
from stack.settings.rules import REGEX_PREFIX, Rules, is_exact
from stack.topology.model import RESERVED_SERVICES, Topology
from stack.topology.yamlio import KeyPath

Finding = tuple[str, KeyPath, str]


def _unknown_queue(queue: str, topology: Topology) -> str:
    close = difflib.get_close_matches(queue, topology.all_queues, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"queue {queue!r} is not declared in queues{hint}"


def check(topology: Topology, warnings: bool = True) -> list[Finding]:
    found: list[Finding] = []
    declared = set(topology.all_queues)
    for pattern, spec in topology.routes.items():
        if pattern.startswith(REGEX_PREFIX):
            try:
                re.compile(pattern[len(REGEX_PREFIX) :])
            except re.error as exc:
                found.append(("error", ("routes", pattern), f"invalid regular expression: {exc}"))
        if spec.queue not in declared:
            found.append(("error", ("routes", pattern), _unknown_queue(spec.queue, topology)))
    for name, group in topology.workers.items():
        if name in RESERVED_SERVICES:
            # Group names are service names; these belong to the kit's own services.
            found.append(("error", ("workers", name), f"{name!r} is reserved for a kit service"))
        for index, queue in enumerate(group.queues):
            if queue not in declared:
                found.append(
                    ("error", ("workers", name, "queues", index), _unknown_queue(queue, topology))
                )
    for name, entry in topology.beat.items():
        if entry.queue is not None and entry.queue not in declared:
            found.append(("error", ("beat", name, "queue"), _unknown_queue(entry.queue, topology)))
    if not warnings or any(severity == "error" for severity, _, _ in found):
        return found  # routing below needs a consistent topology
    return found + _warnings(topology)


def _warnings(topology: Topology) -> list[Finding]:
    found: list[Finding] = []
    consumed = {
        q for group in topology.workers.values() if group.replicas > 0 for q in group.queues
    }
    for queue in topology.queues:
        if queue not in consumed:
            found.append(
                ("warning", ("queues", queue), f"no worker group consumes queue {queue!r}")
            )
    for pattern, spec in topology.routes.items():
        if spec.queue in topology.queues and spec.queue not in consumed:
            continue  # already reported on the queue itself
        if spec.queue not in consumed:
            found.append(
                (
                    "warning",
                    ("routes", pattern),
                    f"routes to {spec.queue!r}, which no worker consumes",
                )
            )
    # First match in file order, the rule Celery follows with the kit's task_routes (a test
    # holds the two equal); taken without Celery, whose import and router cost more than this.
    rules = Rules(topology.routes)
    for pattern in topology.routes:
        if not is_exact(pattern):
            continue
        rule = rules.first(pattern)
        if rule != pattern:
            found.append(
                (
                    "warning",
                    ("routes", pattern),
                    f"never used: the earlier rule {rule!r} matches {pattern} first",
                )
            )
    for name, entry in topology.beat.items():
        rule = rules.first(entry.task)
        routed = topology.routes[rule].queue if rule is not None else topology.default_queue
        queue = entry.queue or routed
        path: KeyPath = ("beat", name, "task")
        if queue not in consumed:
            found.append(
                ("warning", path, f"{entry.task} lands on {queue!r}, which no worker consumes")
            )
        elif entry.queue is None and rule is None:
            found.append(
                (
                    "warning",
                    path,
                    f"no route matches {entry.task}: it goes to the default queue {queue!r}",
                )
            )
    if topology.default_queue not in consumed and not topology.routes and topology.workers:
        found.append(
            (
                "warning",
                ("default_queue",),
                f"no worker consumes the default queue {topology.default_queue!r}",
            )
        )
    found += _helper_warnings(topology, rules, consumed)
    found += _beat_warnings(topology)
    found += _timeout_warnings(topology)
    return found


def helper_destination(topology: Topology, rules: Rules, helper: str) -> tuple[str, str | None]:
    """(queue, rule) of a Celery helper that wraps no task, as the kit's task_routes send it:
    the first matching rule, else helper_map's queue, else the default queue. Without
    Celery, as for the beat tasks above (a unit test holds it equal to Celery's router)."""
    rule = rules.first(helper)
    if rule is not None:
        return topology.routes[rule].queue, rule
    return helper_queue(topology) or topology.default_queue, None


def _helper_warnings(topology: Topology, rules: Rules, consumed: set[str]) -> list[Finding]:
    """Celery's own helper tasks: a rule they never use, or a queue nobody consumes.

    celery.map, .starmap and .chunks take the route of the task they wrap, whose warnings
    cover them. The others go by their own name when they wrap no task (celery.chord_unlock:
    a chord whose body is a chain or a group): to the default queue, or helper_map's queue
    when no group consumes it, which the warning points at.
    """
    found: list[Finding] = []
    for pattern in topology.routes:
        if pattern in FOLLOWING:
            found.append(
                (
                    "warning",
                    ("routes", pattern),
                    f"never used: {pattern} goes where the task it wraps goes "
                    "(stack routes --for TASK)",
                )
            )
    for helper, sender in reachable(topology).items():
        if helper in MAPPERS:
            continue
        queue, rule = helper_destination(topology, rules, helper)
        if queue in consumed or rule is not None:
            continue  # a rule's unconsumed queue is reported on the rule (or the queue)
        found.append(
            (
                "warning",
                ("default_queue",),
                f"Celery's {helper} (sent by {sender}) lands on {queue!r}, which no worker "
                "consumes",
            )
        )
    if "task_routes" in topology.celery:
        found.append(
            (
                "warning",
                ("celery", "task_routes"),
                "replaces the topology's routes and the kit's router of Celery's helper "
                "tasks (celery.starmap, ...), which then go to the default queue; "
                "stack routes does not see it",
            )
        )
    return found


def _beat_warnings(topology: Topology) -> list[Finding]:
    found: list[Finding] = []
    embedded = [name for name, g in topology.workers.items() if g.embed_beat and g.replicas > 0]
    for name in embedded:
        group = topology.workers[name]
        if group.replicas > 1:
            found.append(
                (
                    "warning",
                    ("workers", name, "embed_beat"),
                    f"beat embedded in {group.replicas} replicas: every periodic task runs "
                    f"{group.replicas} times",
                )
            )
    if len(embedded) > 1 or (embedded and topology.beat):
        found.append(
            (
                "warning",
                ("workers", embedded[0], "embed_beat"),
                "two beat schedulers (embedded and the beat service): periodic tasks run twice",
            )
        )
    return found


def _timeout_warnings(topology: Topology) -> list[Finding]:
    found: list[Finding] = []
    broker = topology.broker
    for name, group in topology.workers.items():
        if group.time_limit is None:
            continue
        if broker.type == "redis" and group.time_limit >= broker.visibility_timeout:
            found.append(
                (
                    "warning",
                    ("workers", name, "time_limit"),
                    f"tasks may run {group.time_limit:g} s, longer than the Redis "
                    f"visibility_timeout ({broker.visibility_timeout} s): they would be "
                    "delivered twice",
                )
            )
        if broker.type == "rabbitmq" and group.time_limit >= broker.consumer_timeout:
            found.append(
                (
                    "warning",
                    ("workers", name, "time_limit"),
                    f"tasks may run {group.time_limit:g} s, longer than RabbitMQ's "
                    f"consumer_timeout ({broker.consumer_timeout} s): the channel would be closed",
                )
            )
    return found
