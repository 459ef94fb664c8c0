"""`python -m stack.container.devcheck FILE...`: under `stack dev`, import the next copy of the app.

The host runs this (docker exec) in one container of each group an edit concerns, with
STACK_APP_DIR at the next copy, before that copy replaces the running one: an edit that
fails to import is reported, file:line, while the group keeps running the code it has.
It imports the app as boot.py does, the edited modules, and what the app imports at a
worker's start (`imports`, `include`, autodiscovered tasks). Exit 1 with one line per error.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

from stack.container import devstate


def module_name(path: str) -> str | None:
    """tasks.py -> tasks, pkg/__init__.py -> pkg; None for a file that is not a module."""
    if not path.endswith(".py"):
        return None
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def located(exc: BaseException, app_dir: Path) -> str:
    """'file:line: Type: message' at the innermost frame in app_dir (a SyntaxError's own)."""
    root = str(app_dir) + "/"
    place = ""
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith(root):
        place = f"{exc.filename[len(root) :]}:{exc.lineno}"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root)]
        if frames:
            place = f"{frames[-1].filename[len(root) :]}:{frames[-1].lineno}"
    message = " ".join(str(exc.msg if isinstance(exc, SyntaxError) else exc).split())
    text = f"{type(exc).__name__}: {message}"
    return f"{place}: {text}" if place else text


def check(files: list[str]) -> list[str]:
    """The errors that importing the app and files raises, one line each."""
    # Only the running process records its imports; this one is a trial.
    os.environ.pop(devstate.ENV_STATE, None)
    # Celery's find_app imports from the working directory first: the running copy's.
    os.chdir(os.environ.get("STACK_APP_DIR", "."))
    from stack.errors import StackError

    try:
        from stack.container.boot import APP_DIR, app
    except StackError as exc:
        return [str(exc)]
    errors = []
    for name in filter(None, map(module_name, files)):
        try:
            importlib.import_module(name)
        except Exception as exc:  # what the user's module raises: reported, not raised
            errors.append(located(exc, APP_DIR))
    if not errors:
        try:
            app.loader.import_default_modules()
        except Exception as exc:
            errors.append(located(exc, APP_DIR))
    return errors


def main() -> None:
    errors = check(sys.argv[1:])
    for line in errors:
        print(line)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
