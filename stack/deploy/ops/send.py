"""`stack send TASK`: send a task from the host through the topology's routes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.errors import RuntimeStackError, StackError


@dataclass(frozen=True)
class Sent:
    id: str
    queue: str
    state: str | None = None
    result: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "queue": self.queue, "state": self.state, "result": self.result}


def parse_json(text: str | None, kind: type, option: str) -> Any:
    if text is None:
        return kind()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StackError(f"{option}: invalid JSON: {exc}") from None
    if not isinstance(value, kind):
        expected = "an array, e.g. '[1, 2]'" if kind is list else "an object, e.g. '{\"x\": 1}'"
        raise StackError(f"{option}: expected {expected}, got {type(value).__name__}")
    return value


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def send(
    path: str | Path | None,
    task: str,
    args: str | None = None,
    kwargs: str | None = None,
    *,
    wait: bool = False,
    timeout: float = 30.0,
) -> Sent:
    """Send task with JSON args/kwargs; with wait, block for its state and result."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    from stack.producer import topology_app
    from stack.settings.routes import Resolver
    from stack.topology.load import load

    positional = parse_json(args, list, "--args")
    named = parse_json(kwargs, dict, "--kwargs")
    loaded = load(path)
    topology = loaded.topology
    if wait and topology.backend.type == "none":
        raise StackError(f"the topology of {topology.name} has no result backend: --wait needs one")
    queue = Resolver(topology).queue_of(task)
    app = topology_app(loaded)
    try:
        result = app.send_task(task, args=positional, kwargs=named)
    except Exception as exc:  # kombu's OperationalError, after its publish retries
        raise RuntimeStackError(f"cannot send {task}: {_one_line(exc)}") from None
    if not wait:
        return Sent(str(result.id), queue)
    try:
        value = result.get(timeout=timeout, propagate=False)
    except CeleryTimeout:
        raise RuntimeStackError(
            f"task {result.id} ({task}) did not finish within {timeout:g} s "
            f"(state {result.state}); is a worker consuming {queue}?"
        ) from None
    except Exception as exc:  # the result backend went away (each backend has its errors)
        raise RuntimeStackError(
            f"task {result.id} ({task}) was sent, but its result cannot be read: {_one_line(exc)}"
        ) from None
    if result.state == "FAILURE":
        value = f"{type(value).__name__}: {value}"
    return Sent(str(result.id), queue, str(result.state), _jsonable(value))
