"""Celery settings derived from a topology: the one source for workers, beat and producers."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from stack.settings.helpers import PREFIX, ROUTER
from stack.settings.rules import Rules, is_exact, route_key
from stack.topology.durations import cron_fields

# A group's max_deliveries, read by its workers' request class (container/deliveries.py).
MAX_DELIVERIES = "stack_max_deliveries"

if TYPE_CHECKING:  # the model imports pydantic; containers assemble settings without it
    from stack.topology.model import BeatEntry, Topology, WorkerGroup

TRANSPORT = "stack.container.transport:Transport"  # a string: settings stay free of kombu


def task_routes(topology: Topology) -> tuple[dict[Any, dict[str, Any]], ...]:
    """The routes as Celery's task_routes, so that the first rule in file order wins.

    Celery's MapRoute checks exact names before its patterns, so one map is first-match only
    while no pattern in it precedes an exact name it matches; a new map starts there, and
    Celery tries the maps in order. Usually this gives one map, as a user would write.
    """
    maps: list[dict[Any, dict[str, Any]]] = []
    current: dict[Any, dict[str, Any]] = {}
    patterns = Rules()  # the patterns of the current map
    for pattern, spec in topology.routes.items():
        if not is_exact(pattern):
            patterns.add(pattern)
        elif patterns.first(pattern) is not None:
            maps.append(current)
            current, patterns = {}, Rules()
        value: dict[str, Any] = {"queue": spec.queue}
        if spec.priority is not None:
            value["priority"] = spec.priority
        current[route_key(pattern)] = value
    if current:
        maps.append(current)
    return tuple(maps)


def task_queues(topology: Topology) -> list[Any]:
    from kombu.entity import Exchange, Queue

    queues = []
    for name in topology.all_queues:
        spec = topology.queues.get(name)
        exchange = (spec.exchange if spec else None) or name
        routing_key = (spec.routing_key if spec else None) or name
        arguments = {"x-max-priority": spec.max_priority} if spec and spec.max_priority else None
        queues.append(
            Queue(  # type: ignore[no-untyped-call]
                name,
                Exchange(exchange, type="direct"),  # type: ignore[no-untyped-call]
                routing_key,
                queue_arguments=arguments,
            )
        )
    return queues


def schedule_of(entry: BeatEntry) -> Any:
    if entry.every is not None:
        return timedelta(seconds=entry.every)
    from celery.schedules import crontab

    assert entry.cron is not None  # the model guarantees one of the two
    return crontab(**cron_fields(entry.cron))


def beat_schedule(topology: Topology) -> dict[str, dict[str, Any]]:
    schedule = {}
    for name, entry in topology.beat.items():
        item: dict[str, Any] = {
            "task": entry.task,
            "schedule": schedule_of(entry),
            "args": tuple(entry.args),
            "kwargs": dict(entry.kwargs),
        }
        # Sent as the message's ignore_result header, which the worker honours over the
        # task's own setting: 5 Redis commands per run, and a result kept until it expires.
        options: dict[str, Any] = {"ignore_result": entry.ignore_result}
        if entry.queue:
            options["queue"] = entry.queue
        item["options"] = options
        schedule[name] = item
    return schedule


def helper_queue(topology: Topology) -> str | None:
    """Where Celery's helpers that wrap no task go (celery.accumulate, .backend_cleanup):
    None while a group consumes the default queue, else the first queue a group consumes.

    A queue whose consumers store results comes first: celery.accumulate's result is the
    result of the task that Task.replace replaced. Replicas do not count (`stack scale`
    and autoscaling change them), so that `replicas: 0` restarts no process.
    """
    consumers = topology.consumer_groups()
    ignored = ignored_queues(topology)
    consumed = [q for q in topology.all_queues if consumers.get(q)]
    candidates = [q for q in consumed if q not in ignored] or consumed
    if not candidates or topology.default_queue in candidates:
        return None
    return candidates[0]


def helper_map(topology: Topology) -> dict[str, dict[str, Any]]:
    """The last route map: helpers that no earlier rule routed go to helper_queue."""
    queue = helper_queue(topology)
    return {} if queue is None else {f"{PREFIX}*": {"queue": queue}}


def all_routes(topology: Topology) -> tuple[Any, ...]:
    """task_routes: the helpers' router (helpers.py), the topology's maps, then helper_map."""
    fallback = helper_map(topology)
    return (ROUTER, *task_routes(topology), *((fallback,) if fallback else ()))


def routing_settings(topology: Topology) -> dict[str, Any]:
    """What decides where a task goes; enough for `stack routes` (no broker needed)."""
    return {
        "task_default_queue": topology.default_queue,
        "task_default_exchange": topology.default_queue,
        "task_default_routing_key": topology.default_queue,
        "task_queues": task_queues(topology),
        "task_routes": all_routes(topology),
    }


def settings(
    topology: Topology,
    broker_url: str | None,
    backend_url: str | None,
    group: str | None = None,
) -> dict[str, Any]:
    """Every Celery setting the kit applies; group adds that worker group's own settings."""
    return combine(
        base_settings(topology),
        group_settings(topology.workers[group]) if group is not None else {},
        broker_type=topology.broker.type,
        visibility_timeout=topology.broker.visibility_timeout,
        broker_url=broker_url,
        backend_url=backend_url,
        overrides=topology.celery,
    )


def control_settings(topology: Topology, broker_url: str) -> dict[str, Any]:
    """What a remote control from the host needs: the broker as the workers have it, and
    no beat schedule, whose cron entries would import Celery's crontab for nothing."""
    return combine(
        routing_settings(topology),
        {},
        broker_type=topology.broker.type,
        visibility_timeout=topology.broker.visibility_timeout,
        broker_url=broker_url,
        backend_url=None,
        overrides=topology.celery,
    )


def ignored_queues(topology: Topology) -> frozenset[str]:
    """Queues whose every consumer stores no results (`ignore_result: true` groups)."""
    consumers = topology.consumer_groups()
    return frozenset(
        queue
        for queue in topology.all_queues
        if (groups := consumers.get(queue))
        and all(topology.workers[name].ignore_result for name in groups)
    )


def base_settings(topology: Topology) -> dict[str, Any]:
    """The settings every process shares that do not depend on the broker and backend URLs."""
    conf: dict[str, Any] = {
        **routing_settings(topology),
        "broker_connection_retry_on_startup": True,
        "beat_schedule": beat_schedule(topology),
        "timezone": "UTC",
        "result_expires": topology.backend.result_expires,
    }
    if topology.backend.type == "none":
        conf["task_ignore_result"] = True
    if topology.monitor.flower:
        # Flower shows tasks only from events; workers also need -E (set by the kit).
        conf["worker_send_task_events"] = True
        # Off unless asked (Celery's default): the task-sent event is a PUBLISH, with a
        # Redis client of its own, on every send of every producer; Flower still sees each
        # task from the moment a worker receives it.
        conf["task_send_sent_event"] = topology.monitor.sent_events
    return conf


def combine(
    base: dict[str, Any],
    group: dict[str, Any],
    *,
    broker_type: str,
    visibility_timeout: int,
    broker_url: str | None,
    backend_url: str | None,
    overrides: dict[str, Any],
) -> dict[str, Any]:
    """base_settings, a group's settings and the URLs, then the topology's `celery:` mapping,
    which wins."""
    conf = {**base, **group, "broker_url": broker_url, "result_backend": backend_url}
    scheme = (broker_url or "").partition("://")[0]
    if broker_type == "redis" or scheme in ("redis", "rediss"):
        conf["broker_transport_options"] = {"visibility_timeout": visibility_timeout}
    if scheme in ("redis", "rediss") or (broker_url is None and broker_type == "redis"):
        # kombu's transport minus a client object per command (see transport.py); not for
        # other schemes a URL from the environment may name (sentinel://, amqp://).
        conf["broker_transport"] = TRANSPORT
    conf.update(overrides)
    return conf


def group_settings(group: WorkerGroup) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "worker_prefetch_multiplier": group.effective_prefetch_multiplier,
        "task_acks_late": group.acks_late,
        "task_reject_on_worker_lost": group.reject_on_worker_lost,
        "worker_concurrency": group.effective_concurrency,
    }
    if group.acks_late and group.reject_on_worker_lost:
        conf[MAX_DELIVERIES] = group.max_deliveries
    if group.ignore_result:
        conf["task_ignore_result"] = True
    if group.time_limit is not None:
        conf["task_time_limit"] = group.time_limit
    if group.soft_time_limit is not None:
        conf["task_soft_time_limit"] = group.soft_time_limit
    if group.max_tasks_per_child is not None:
        conf["worker_max_tasks_per_child"] = group.max_tasks_per_child
    return conf
