"""stack: a containerized multi-queue deployment kit for Celery."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "connect"]


def connect(path: Any = None, broker_url: str | None = None, backend_url: str | None = None) -> Any:
    """The user's Celery app configured from the topology (see stack.producer.connect)."""
    from stack.producer import connect as _connect  # lazy: keeps `stack --help` free of Celery

    return _connect(path, broker_url=broker_url, backend_url=backend_url)
