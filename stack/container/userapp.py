"""Importing the user's Celery app by the name `celery -A` takes, with Celery's own lookup.

`proj`, `proj.celery`, `proj.celery:app` and `module:attribute` all resolve as
`celery -A NAME worker` resolves them (celery.app.utils.find_app: a module's `app`, else its
`celery`, else the package's `celery` submodule, else the one Celery instance in it), and
fail with the messages Celery gives, each on one line.
"""

from __future__ import annotations

import inspect
import sys
import traceback
from pathlib import Path
from typing import Any

from stack.errors import StackError

UNABLE = "Unable to load celery application"


def where(exc: BaseException, base_dir: Path | None) -> str:
    """' (file:line)' of the innermost frame of the user's code the exception went through."""
    frames = traceback.extract_tb(exc.__traceback__)
    root = str(base_dir.resolve()) if base_dir is not None else None
    own = [f for f in frames if root is not None and f.filename.startswith(root + "/")]
    chosen = own or frames[-1:]
    if not chosen:
        return ""
    frame = chosen[-1]
    name = frame.filename
    if root is not None and name.startswith(root + "/"):
        name = name[len(root) + 1 :]
    return f" ({name}:{frame.lineno})"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def load_app(spec: str, base_dir: Path | None = None) -> Any:
    """The Celery app that `celery -A spec` would load, with base_dir first on sys.path."""
    from celery import Celery
    from celery.app.utils import find_app

    if base_dir is not None and str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    # Celery's own handling (celery/bin/celery.py), each case on one line.
    try:
        found = find_app(spec)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == spec and ":" in spec:  # find_app imported "module:attribute" as a name
            module, _, attribute = spec.partition(":")
            raise StackError(
                f"{UNABLE} {spec!r}: module {module!r} has no attribute {attribute!r}"
            ) from None
        if missing and (spec == missing or spec.startswith((missing + ".", missing + ":"))):
            raise StackError(f"{UNABLE} {spec!r}: the module {missing} was not found") from None
        raise StackError(
            f"{UNABLE} {spec!r}: while trying to load the module {spec.partition(':')[0]} "
            f"the following error occurred: {type(exc).__name__}: {_one_line(str(exc))}"
            f"{where(exc, base_dir)}"
        ) from None
    except AttributeError as exc:
        message = _one_line(str(exc.args[0]) if exc.args else str(exc))
        raise StackError(f"{UNABLE} {spec!r}: {message[:1].upper()}{message[1:]}") from None
    except Exception as exc:  # anything the user's module raises while it is imported
        raise StackError(
            f"{UNABLE} {spec!r}: while trying to load the module {spec.partition(':')[0]} "
            f"the following error occurred: {type(exc).__name__}: {_one_line(str(exc))}"
            f"{where(exc, base_dir)}"
        ) from None
    if not isinstance(found, Celery):
        kind = type(found).__name__
        hint = ""
        if inspect.isfunction(found):
            hint = (
                ": name the app it returns instead, e.g. `celery_app = create_app()` at module "
                "level and `app: module:celery_app`"
            )
        raise StackError(f"{UNABLE} {spec!r}: it names a {kind}, not a Celery app{hint}")
    return found
