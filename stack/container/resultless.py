"""The worker Request of a group that stores no results.

A worker honours a message's ignore_result over its own task_ignore_result, and Celery's
`apply_async` always sends one: False, unless the producer's task says otherwise. The
kit's producers send True to such groups (guards.py); this class makes the group's
setting hold for producers the kit did not configure as well. Celery's own extension
point for it is the task's Request class.
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request as CeleryRequest


class Request(CeleryRequest):  # type: ignore[misc]  # celery ships no type hints
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The dict is what the pool's tracer builds the task's request context from.
        self._request_dict["ignore_result"] = True
        self._ignore_result = True
