"""Where each task goes, answered by Celery's own router configured from the topology."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from stack.settings.celeryconf import helper_queue, routing_settings
from stack.settings.helpers import CHORD_UNLOCK, FOLLOWING, MAPPERS, PREFIX, reachable
from stack.settings.rules import Rules, is_exact
from stack.topology.model import Topology

FALLBACK_RULE = "(first consumed queue)"  # helper_map's rule, as `stack routes` shows it


@dataclass(frozen=True)
class Route:
    """One task's destination and the worker groups that will run it."""

    task: str
    queue: str | None  # None: a helper's row for any task it may wrap (see `follows`)
    workers: tuple[str, ...]
    rule: str | None  # the routes key that matched; None: the default queue
    follows: str | None = None  # a helper's: the task whose route it takes

    def as_dict(self) -> dict[str, Any]:
        row = {
            "task": self.task,
            "queue": self.queue,
            "workers": list(self.workers),
            "rule": self.rule,
        }
        if self.follows is not None:
            row["follows"] = self.follows
        return row


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
        self._app = app
        self._helper_queue = helper_queue(topology)

    def queue_of(self, task: str) -> str:
        options = self._router.route({}, task)
        return str(options["queue"].name)

    def resolve(self, task: str) -> Route:
        queue = self.queue_of(task)
        return Route(task, queue, self._consumers.get(queue, ()), self._rule(task, queue))

    def _rule(self, task: str, queue: str) -> str | None:
        rules = self._rules_by_queue.get(queue)
        rule = rules.first(task) if rules is not None else None
        if rule is None and queue == self._helper_queue and task.startswith(PREFIX):
            return FALLBACK_RULE
        return rule

    def resolve_helper(self, helper: str, inner: str) -> Route:
        """Where a helper wrapping a signature of task `inner` goes: the message as canvas
        sends it, through Celery's router (and so through the kit's helper router)."""
        sig = self._app.signature(inner)
        args: tuple[Any, ...] = ()
        kwargs: dict[str, Any] = {}
        if helper in MAPPERS:
            kwargs = {"task": sig, "it": []}
            if helper == "celery.chunks":
                kwargs["n"] = 1
        else:  # chord_unlock(group_id, callback, ...), as Celery's backends send it
            args = ("group-id", sig)
        # send_task passes the registered task, of which the helper router reads the app
        # only; the registry itself would finalize this app with every shared task of the
        # process (the user's too, after --app).
        sent = SimpleNamespace(name=helper, app=self._app)
        options = self._router.route({}, helper, args, kwargs, sent)
        queue = str(options["queue"].name)
        rule = self._rule(inner, self.queue_of(inner))
        return Route(helper, queue, self._consumers.get(queue, ()), rule, follows=inner)


def named_tasks(topology: Topology) -> list[str]:
    """Tasks the topology names: exact route keys, then beat tasks, without repeats."""
    names = [key for key in topology.routes if is_exact(key)]
    names += [entry.task for entry in topology.beat.values()]
    return list(dict.fromkeys(names))


def resolve(topology: Topology, tasks: list[str] | None = None) -> list[Route]:
    resolver = Resolver(topology)
    return [resolver.resolve(task) for task in (tasks or named_tasks(topology))]


def helper_routes(
    topology: Topology, helpers: list[str] | None = None, inner: str | None = None
) -> list[Route]:
    """Rows for Celery's helpers: those named, else those the topology can reach (that
    wrap a task, when `inner` is given). A helper that follows a task gets that task's
    route when `inner` names it; else a row whose queue is None ("as its task")."""
    resolver = Resolver(topology)
    if helpers is None:
        helpers = [h for h in reachable(topology) if inner is None or h in FOLLOWING]
    rows = []
    for helper in helpers:
        if helper not in FOLLOWING:
            rows.append(resolver.resolve(helper))
        elif inner is not None:
            rows.append(resolver.resolve_helper(helper, inner))
        else:
            what = "the chord body" if helper == CHORD_UNLOCK else "its task"
            rows.append(Route(helper, None, (), None, follows=what))
    return rows
