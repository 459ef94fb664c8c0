"""Where each task goes, answered by Celery's own router configured from the topology."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack.settings.celeryconf import routing_settings
from stack.settings.rules import Rules, is_exact
from stack.topology.model import Topology


@dataclass(frozen=True)
class Route:
    """One task's destination and the worker groups that will run it."""

    task: str
    queue: str
    workers: tuple[str, ...]
    rule: str | None  # the routes key that matched; None: the default queue

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "queue": self.queue,
            "workers": list(self.workers),
            "rule": self.rule,
        }


class Resolver:
    """Celery's Router for a topology, built once and queried per task."""

    def __init__(self, topology: Topology) -> None:
        from celery import Celery

        self.topology = topology
        app = Celery(topology.name, set_as_current=False)
        app.conf.update(routing_settings(topology))
        self._router = app.amqp.router
        # Which rule matched, for display only; the queue always comes from Celery's router.
        # The matching rule routes to the queue Celery chose: only those rules are tried.
        self._rules_by_queue: dict[str, Rules] = {}
        for pattern, spec in topology.routes.items():
            self._rules_by_queue.setdefault(spec.queue, Rules()).add(pattern)
        self._consumers = topology.consumer_groups()

    def queue_of(self, task: str) -> str:
        options = self._router.route({}, task)
        return str(options["queue"].name)

    def resolve(self, task: str) -> Route:
        queue = self.queue_of(task)
        rules = self._rules_by_queue.get(queue)
        rule = rules.first(task) if rules is not None else None
        return Route(task, queue, self._consumers.get(queue, ()), rule)


def named_tasks(topology: Topology) -> list[str]:
    """Tasks the topology names: exact route keys, then beat tasks, without repeats."""
    names = [key for key in topology.routes if is_exact(key)]
    names += [entry.task for entry in topology.beat.values()]
    return list(dict.fromkeys(names))


def resolve(topology: Topology, tasks: list[str] | None = None) -> list[Route]:
    resolver = Resolver(topology)
    return [resolver.resolve(task) for task in (tasks or named_tasks(topology))]
