"""The topology: pure, typed data. Shorthands are normalised here, once, at load time.

Cross-references (route -> queue, group -> queue, beat -> task) are checked in check.py,
which needs the whole model; this module checks each value on its own.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stack.topology.durations import cron_fields, parse_interval

# Project and group names become container names, hostnames and Kubernetes object names.
DnsName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$"),
]
QueueName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@-]{1,200}$")]
TaskName = Annotated[str, StringConstraints(pattern=r"^[^\s]{1,200}$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
APP_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?$"
# The kit's own variables in app containers (broker URL, group, paths).
RESERVED_ENV_PREFIX = "STACK_"

RABBITMQ: Final = "rabbitmq"
# Validation context key: False skips the checks that need Celery (load.py's `full`).
CELERY_CHECKS = "celery"
RESERVED_SERVICES = frozenset({"redis", "rabbitmq", "beat", "flower", "app", "netns"})
REDIS: Final = "redis"


def repeated(values: list[str]) -> list[str]:
    """The values that occur more than once, sorted (one pass: a list may hold 1,000 queues)."""
    return sorted(value for value, count in Counter(values).items() if count > 1)


def env_values(value: Any, *, kit_names: bool = True) -> Any:
    """An env mapping as YAML gives it: numbers become strings, other non-strings are
    refused, and so are the kit's own STACK_* names unless kit_names."""
    if not isinstance(value, dict):
        return value
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if not kit_names and isinstance(key, str) and key.startswith(RESERVED_ENV_PREFIX):
            raise ValueError(f"{key}: {RESERVED_ENV_PREFIX}* variables are set by the kit")
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"{key}: expected a string, got {item!r} (quote it)")
        out[key] = item if isinstance(item, str) else str(item)
    return out


class Model(BaseModel):
    """Base of every topology model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageSpec(Model):
    """The app image, built from the user's directory."""

    context: str = Field(".", description="Build context, relative to the topology file.")
    requirements: str | None = Field(
        "requirements.txt",
        description="Requirements file inside the context, installed if it exists.",
    )
    name: str | None = Field(None, description="Tag of the built image; default {name}-app:latest.")
    registry: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._/-][a-z0-9]+)*)?$",
        description="Where `stack build --push` pushes the app image and clusters pull it "
        "from: HOST[:PORT][/PATH] (credentials: `docker login HOST`).",
    )


class Images(Model):
    """Base images; each also overridable by STACK_PYTHON_IMAGE, STACK_REDIS_IMAGE, ..."""

    python: str = "python:3.11-slim"
    redis: str = "redis:7-alpine"
    rabbitmq: str = "rabbitmq:3-management-alpine"


class BrokerSpec(Model):
    """Where tasks are queued: a service the kit runs (redis, rabbitmq) or an external URL."""

    type: Literal["redis", "rabbitmq", "url"] = REDIS
    url: str | None = Field(None, description="External broker URL (type url); ${VAR} is expanded.")
    port: int | None = Field(None, ge=1, le=65535, description="Host port to publish; default any.")
    visibility_timeout: int = Field(
        3600,
        ge=1,
        description="Redis: seconds before an unacknowledged task is redelivered.",
    )
    consumer_timeout: int = Field(
        1800,
        ge=1,
        description="RabbitMQ: seconds a delivery may stay unacknowledged.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value in (REDIS, RABBITMQ):
                return {"type": value}
            if "://" in value:
                return {"type": "url", "url": value}
            raise ValueError(f"expected 'redis', 'rabbitmq' or a URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _url_matches_type(self) -> BrokerSpec:
        if (self.type == "url") != (self.url is not None):
            raise ValueError("'url' is required with type 'url' and only then")
        return self


class BackendSpec(Model):
    """Where results are stored: redis (run by the kit), none, or an external URL."""

    type: Literal["redis", "none", "url"] = REDIS
    url: str | None = None
    result_expires: int = Field(86400, ge=1, description="Seconds results are kept.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value is None or value is False:
            return {"type": "none"}
        if isinstance(value, str):
            if value in (REDIS, "none"):
                return {"type": value}
            if "://" in value:
                return {"type": "url", "url": value}
            raise ValueError(f"expected 'redis', 'none' or a URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _url_matches_type(self) -> BackendSpec:
        if (self.type == "url") != (self.url is not None):
            raise ValueError("'url' is required with type 'url' and only then")
        return self


class QueueSpec(Model):
    """Options of one queue (kombu.Queue)."""

    exchange: str | None = Field(None, description="Exchange name; default: the queue name.")
    routing_key: str | None = Field(None, description="Routing key; default: the queue name.")
    max_priority: int | None = Field(None, ge=1, le=255)


class RouteSpec(Model):
    """Where a task (or pattern) goes."""

    queue: QueueName
    priority: int | None = Field(None, ge=0, le=255)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"queue": value} if isinstance(value, str) else value


class Resources(Model):
    """Kubernetes-style resources: cpu is a request, memory a request and a limit."""

    cpu: str | None = None
    memory: str | None = None


class Autoscale(Model):
    """KEDA scaling on the length of the group's queues (Helm only)."""

    min_replicas: int = Field(0, ge=0)
    max_replicas: int = Field(10, ge=1)
    queue_length: int = Field(20, ge=1, description="Target messages per replica.")

    @model_validator(mode="after")
    def _order(self) -> Autoscale:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


Pool = Literal["prefork", "threads", "solo", "gevent", "eventlet"]
Workload = Literal["long", "short", "io"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

# What each workload picks when the group leaves pool, concurrency or prefetch unset; measured
# in bench/RESULTS.md. long is the safe default: a task may run for minutes.
WORKLOAD_DEFAULTS: Final[dict[str, tuple[Pool, int, int]]] = {
    # prefork, 2 processes, 1 message per slot: a long task never holds back queued ones.
    "long": ("prefork", 2, 1),
    # One process, no hand-off to a child: for tasks of a few milliseconds or less.
    "short": ("solo", 1, 4),
    # Threads that mostly wait (HTTP calls, queries): many slots in one process.
    "io": ("threads", 32, 4),
}
POOL_CONCURRENCY: Final[dict[str, int]] = {
    "prefork": 2, "threads": 16, "gevent": 100, "eventlet": 100, "solo": 1,
}  # fmt: skip


class WorkerGroup(Model):
    """A set of identical worker replicas consuming the same queues."""

    queues: list[QueueName] = Field(min_length=1)
    replicas: int = Field(1, ge=0, le=1000)
    workload: Workload = Field(
        "long",
        description="long (prefork, 2 processes, prefetch 1), short (solo, prefetch 4) or io "
        "(threads, 32, prefetch 4): the defaults of pool, concurrency and prefetch_multiplier.",
    )
    pool: Pool | None = Field(None, description="Worker pool; default from workload.")
    concurrency: int | None = Field(
        None, ge=1, le=10000, description="Pool size; default from workload (or the pool)."
    )
    prefetch_multiplier: int | None = Field(
        None,
        ge=0,
        description="Messages reserved per pool slot; default from workload: 1 for long tasks "
        "(no starving), 4 for short and io.",
    )
    acks_late: bool = Field(True, description="Acknowledge after the task ran (at-least-once).")
    reject_on_worker_lost: bool = Field(
        True, description="Requeue a task whose worker process died (with acks_late)."
    )
    # 3: one death can be the machine's (the OOM killer for a neighbour, a node lost); a task
    # that takes its process down three times in a row is the cause, and stops there.
    max_deliveries: int = Field(
        3,
        ge=1,
        description="Deliveries of a task whose worker process dies each time (OOM, segfault) "
        "before it moves to the dead-letter queue stack.dead (with acks_late and "
        "reject_on_worker_lost).",
    )
    ignore_result: bool = Field(
        False,
        description="Store no results of the tasks this group runs (faster; only where "
        "nothing reads them: no .get(), chords or chains).",
    )
    log_level: LogLevel = Field(
        "INFO", description="Worker log level; WARNING drops the two lines logged per task."
    )
    time_limit: float | None = Field(None, gt=0, description="Hard time limit, seconds.")
    soft_time_limit: float | None = Field(None, gt=0, description="Soft time limit, seconds.")
    max_tasks_per_child: int | None = Field(None, ge=1)
    without_mingle: bool = Field(True, description="Skip syncing revoked ids at start (faster).")
    without_gossip: bool = Field(True, description="Skip worker-to-worker events (less traffic).")
    embed_beat: bool = Field(False, description="Run beat inside this worker (-B); avoid.")
    grace_period: int | None = Field(
        None, ge=1, description="Seconds to finish running tasks on stop; default from time_limit."
    )
    dev_restart: Literal["warm", "terminate"] = Field(
        "warm",
        description="How `stack dev` restarts the group on new code: warm (running tasks "
        "finish first) or terminate (at once; acks_late tasks are redelivered).",
    )
    resources: Resources = Resources()
    autoscale: Autoscale | None = None
    env: dict[EnvName, str] = Field(
        default_factory=dict, description="Environment of this group's workers; wins over env."
    )

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        return env_values(value)

    @field_validator("queues")
    @classmethod
    def _unique_queues(cls, value: list[str]) -> list[str]:
        dups = repeated(value)
        if dups:
            raise ValueError(f"queue listed twice: {', '.join(dups)}")
        return value

    @model_validator(mode="after")
    def _limits(self) -> WorkerGroup:
        if self.time_limit and self.soft_time_limit and self.soft_time_limit >= self.time_limit:
            raise ValueError("soft_time_limit must be below time_limit")
        return self

    @property
    def effective_pool(self) -> Pool:
        return self.pool or WORKLOAD_DEFAULTS[self.workload][0]

    @property
    def effective_concurrency(self) -> int:
        if self.concurrency is not None:
            return self.concurrency
        pool, concurrency, _ = WORKLOAD_DEFAULTS[self.workload]
        # An explicit pool without a concurrency: that pool's usual size.
        return concurrency if self.effective_pool == pool else POOL_CONCURRENCY[self.effective_pool]

    @property
    def effective_prefetch_multiplier(self) -> int:
        if self.prefetch_multiplier is not None:
            return self.prefetch_multiplier
        return WORKLOAD_DEFAULTS[self.workload][2]

    @property
    def effective_grace_period(self) -> int:
        """Long enough for a warm shutdown to let the longest allowed task finish."""
        if self.grace_period is not None:
            return self.grace_period
        if self.time_limit is not None:
            return int(self.time_limit) + 15
        return 60


class BeatEntry(Model):
    """A periodic task: exactly one of every (seconds or '5m') and cron ('30 7 * * 1')."""

    task: TaskName
    every: float | None = None
    cron: str | None = None
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    queue: QueueName | None = Field(None, description="Override the routed queue.")
    ignore_result: bool = Field(
        True,
        description="Store no result of the periodic task: beat keeps no handle on it, so "
        "nothing reads one. Set false if something looks its results up by task id.",
    )

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        return None if value is None else parse_interval(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            # Context {"celery": False}: only the field count, not Celery's parser (load.py).
            cron_fields(value, parse=(info.context or {}).get(CELERY_CHECKS, True))
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> BeatEntry:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' and 'cron'")
        return self


class Monitor(Model):
    """Flower, always behind basic auth; the Prometheus metrics exporter."""

    flower: bool = True
    port: int | None = Field(None, ge=1, le=65535, description="Host port; default any free one.")
    metrics: bool = Field(
        True,
        description="Run the Prometheus exporter (/metrics): queue depths and the oldest "
        "message's age, tasks and failures per group, workers up, beat's runs.",
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="The exporter's host port; default any free one."
    )
    user: str = Field("admin", min_length=1, pattern=r"^[^:\s]+$")
    sent_events: bool = Field(
        False,
        description="Send a task-sent event with every task, so that Flower lists tasks "
        "still waiting in a queue. Costs every producer one more broker round trip per "
        "send (~1 ms, 35-40% of send_task here).",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"flower": value} if isinstance(value, bool) else value


class Topology(Model):
    """A Celery deployment: queues, routes, worker groups, beat, broker, backend, monitor."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "title": "stack topology",
            "$schema": "https://json-schema.org/draft/2020-12/schema",
        },
    )

    name: DnsName = Field(description="Project name; prefix of every container and object.")
    app: str = Field(
        # What `celery -A` takes (Celery's find_app resolves it in the image): a module or
        # package, dotted, optionally with :attribute.
        pattern=APP_PATTERN,
        description="The Celery app as `celery -A` takes it: a module or package ('proj', "
        "'proj.celery') or module:attribute ('proj.celery:app'), importable from the image "
        "context.",
    )
    image: ImageSpec = ImageSpec()
    images: Images = Images()
    broker: BrokerSpec = BrokerSpec()
    backend: BackendSpec = BackendSpec()
    default_queue: QueueName = "celery"
    queues: dict[QueueName, QueueSpec] = Field(default_factory=dict)
    routes: dict[str, RouteSpec] = Field(
        default_factory=dict,
        description="Task name, glob ('tasks.*') or 're:' regex -> queue; first match wins.",
    )
    workers: dict[DnsName, WorkerGroup] = Field(default_factory=dict)
    beat: dict[str, BeatEntry] = Field(default_factory=dict)
    monitor: Monitor = Monitor()
    bind: str = Field(
        "127.0.0.1", description="Host address published ports bind to; 0.0.0.0 exposes them."
    )
    env: dict[EnvName, str] = Field(
        default_factory=dict,
        description="Environment of every app container: workers, beat, Flower and the "
        "image's run that lists the app's tasks (e.g. DJANGO_SETTINGS_MODULE). A group's own "
        "env wins. Not for secrets: the rendered compose file and Helm values show it.",
    )
    celery: dict[str, Any] = Field(
        default_factory=dict, description="Extra Celery settings, applied last."
    )

    @field_validator("app", mode="before")
    @classmethod
    def _app(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.match(APP_PATTERN, value):
            raise ValueError(
                "expected what `celery -A` takes: a module or package ('proj', 'proj.celery') "
                f"or module:attribute ('proj.celery:app'), got {value!r}"
            )
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        # The kit's STACK_* values would win over these: refused rather than ignored.
        return env_values(value, kit_names=False)

    @field_validator("queues", mode="before")
    @classmethod
    def _queue_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            bad = [v for v in value if not isinstance(v, str)]
            if bad:
                raise ValueError(f"queue names are strings, got {bad[0]!r}")
            dups = repeated(value)
            if dups:
                raise ValueError(f"queue declared twice: {', '.join(dups)}")
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {k: {} if v is None else v for k, v in value.items()}
        return value

    @property
    def all_queues(self) -> list[str]:
        """Declared queues plus the default queue, which Celery always has."""
        names = list(self.queues)
        if self.default_queue not in self.queues:
            names.append(self.default_queue)
        return names

    def consumer_groups(self) -> dict[str, tuple[str, ...]]:
        """Queue -> the worker groups that consume it, in declaration order (one pass: a
        scan of every group per queue would take queues x groups)."""
        groups: dict[str, list[str]] = {}
        for name, group in self.workers.items():
            for queue in group.queues:
                groups.setdefault(queue, []).append(name)
        return {queue: tuple(names) for queue, names in groups.items()}
