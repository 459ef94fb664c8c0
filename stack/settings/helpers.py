"""Celery's own helper tasks go where the work they wrap is routed.

Canvas sends helpers as tasks of their own: `celery.map`, `celery.starmap` and
`celery.chunks` carry the signature they apply (kwargs `task`), `celery.chord_unlock` the
chord's body (args[1]). No route names them, so Celery sends them to the default queue,
which a topology may leave unconsumed: a chunks() then waits forever. (Celery routes a
map or starmap sent on its own by the wrapped task's name, but not one inside a chunks,
group, chain or chord, and not a chunks.)

`route` is the first entry of the kit's task_routes (Celery's extension point, given as
the dotted name ROUTER: settings stay picklable, see snapshot.py). Celery calls it for
every task sent, by workers, beat and producers alike. For a helper it answers what
Celery's router answers for the signature the helper wraps: that signature's own queue
option, else its name routed by the same router. Helpers that wrap no task
(`celery.accumulate`, `celery.backend_cleanup`) fall through to the topology's routes,
then to the kit's last map (celeryconf.helper_map).

`reachable` says which helpers a topology's processes may send (`stack routes`, validate).

Runs in the image: it imports neither the topology model (pydantic) nor Celery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stack.topology.model import Topology

ROUTER = "stack.settings.helpers:route"
PREFIX = "celery."
MAPPERS = frozenset({"celery.map", "celery.starmap", "celery.chunks"})
CHORD_UNLOCK = "celery.chord_unlock"
FOLLOWING = MAPPERS | {CHORD_UNLOCK}  # the helpers that wrap a signature
# Celery's canvas signatures whose work starts with one of their tasks.
NESTED = frozenset({"celery.chain", "celery.group", "celery.chord"})
ROUTING = ("queue", "exchange", "routing_key", "priority")
DEPTH = 16  # nesting followed; deeper canvas falls back to the routes
# Result backends with chords of their own (no celery.chord_unlock) that expire results
# themselves (no celery.backend_cleanup from beat): Redis, by any of its URL schemes.
REDIS_SCHEMES = ("redis", "rediss", "sentinel")


def route(
    name: str,
    args: Any = None,
    kwargs: Any = None,
    options: Any = None,
    *,
    task: Any = None,  # Celery passes the task being sent by this keyword
    **_: Any,
) -> dict[str, Any] | None:
    """Celery's router function: the route of a helper's wrapped signature, else None."""
    if not name.startswith(PREFIX):
        return None  # every task of the user's own passes here: keep it one test
    sig = wrapped(name, args, kwargs)
    app = getattr(task, "app", None)  # Celery passes the registered task being sent
    if sig is None or app is None:
        return None
    sig_options = sig.get("options")
    given = (
        {k: sig_options[k] for k in ROUTING if sig_options.get(k) is not None}
        if isinstance(sig_options, Mapping)
        else {}
    )
    found = app.amqp.router.route(given, sig["task"], sig.get("args") or (), sig.get("kwargs"))
    return {k: found[k] for k in ROUTING if found.get(k) is not None}


def wrapped(name: str, args: Any, kwargs: Any) -> Mapping[str, Any] | None:
    """The signature whose work a helper message does (its first task, for a canvas)."""
    kwargs = kwargs if isinstance(kwargs, Mapping) else {}
    args = args if isinstance(args, Sequence) and not isinstance(args, str) else ()
    if name in MAPPERS:  # (task, it[, n]) as kwargs; positionally in a hand-made send
        sig = kwargs.get("task", args[0] if args else None)
    elif name == CHORD_UNLOCK:  # (group_id, callback, ...)
        sig = kwargs.get("callback", args[1] if len(args) > 1 else None)
    else:
        return None
    return lead(sig)


def lead(sig: Any) -> Mapping[str, Any] | None:
    """The task that runs first in sig: itself, or the first task of a chain, group or
    chord header, or the task a nested map applies."""
    for _ in range(DEPTH):
        if not isinstance(sig, Mapping) or not isinstance(sig.get("task"), str):
            return None
        name = sig["task"]
        if name not in NESTED and name not in MAPPERS:
            return sig
        inner = sig.get("kwargs") or {}
        if name in MAPPERS:
            sig = inner.get("task")
        elif name == "celery.chord":
            sig = _first(inner.get("header"))
        else:
            sig = _first(inner.get("tasks"))
    return None


def _first(tasks: Any) -> Any:
    if isinstance(tasks, Mapping):  # a group's signature as a chord header
        return tasks
    if isinstance(tasks, Sequence) and not isinstance(tasks, str) and tasks:
        return tasks[0]
    return None


def reachable(topology: Topology) -> dict[str, str]:
    """Celery's helper tasks this topology's processes may send -> what sends them."""
    found = {
        "celery.map": "task.map()",
        "celery.starmap": "task.starmap()",
        "celery.chunks": "task.chunks()",
    }
    backend = topology.backend
    if backend.type == "none":
        return found  # no results: no chords, no Task.replace with a group
    scheme = (backend.url or "").partition("://")[0] if backend.type == "url" else "redis"
    native = scheme.partition("+")[0] in REDIS_SCHEMES
    if not native:
        found[CHORD_UNLOCK] = "a chord, on a backend without chords of its own"
    found["celery.accumulate"] = "Task.replace() with a group"
    beat = bool(topology.beat) or any(g.embed_beat for g in topology.workers.values())
    if beat and not native:
        found["celery.backend_cleanup"] = "beat, daily, as the backend does not expire results"
    return found
