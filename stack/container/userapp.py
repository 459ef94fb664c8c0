"""Importing the user's Celery app from its "module:attribute" name."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from stack.errors import StackError


def load_app(spec: str, base_dir: Path | None = None) -> Any:
    """Import the user's app ("module:attribute"), with base_dir first on sys.path."""
    module_name, _, attribute = spec.partition(":")
    if base_dir is not None and str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StackError(f"cannot import the app module {module_name!r}: {exc}") from None
    app = getattr(module, attribute, None)
    if app is None:
        raise StackError(f"module {module_name!r} has no attribute {attribute!r}")
    return app
