"""The kit's request classes, mixed in before each task's own (Celery's, or one it names).

Per task, not only app.Task's: a task made with base=SomeTask(celery.Task) does not
inherit app.Task's Request, and a task's own request class must stay underneath.
"""

from __future__ import annotations

from typing import Any

from celery.utils.imports import symbol_by_name

from stack.container.deliveries import SETTING, Counting
from stack.container.outcomes import Recording

_classes: dict[tuple[type, ...], type] = {}


def mixed(base: type, mixins: tuple[type, ...]) -> type:
    """base with mixins before it (one class per base and mixins)."""
    missing = tuple(m for m in mixins if not issubclass(base, m))
    if not missing:
        return base
    key = (base, *missing)
    if key not in _classes:
        _classes[key] = type(f"Stack{base.__name__}", (*missing, base), {})
    return _classes[key]


def install(app: Any) -> None:
    """Every task of app, now and defined later, gets the kit's request classes: outcomes
    always, the delivery count where the group sets max_deliveries."""
    mixins: tuple[type, ...] = (Counting, Recording) if app.conf.get(SETTING) else (Recording,)

    def on_tasks(sender: Any, **_: Any) -> None:
        for task in sender.tasks.values():
            type(task).Request = mixed(symbol_by_name(task.Request), mixins)

    app.Task.Request = mixed(symbol_by_name(app.Task.Request), mixins)
    if app.finalized:
        on_tasks(app)
    else:
        app.on_after_finalize.connect(on_tasks, weak=False)
