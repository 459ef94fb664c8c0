"""What an edit does under `stack dev`, decided without Docker: rebuild, reload whom, or report.

Pure functions of the files before and after, and of what each running process recorded
it imported (container/devstate.py), so every case is unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Files = Mapping[str, bytes]


def changed_files(before: Files, after: Files) -> set[str]:
    """Paths added, removed or edited."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def syntax_errors(files: Files, paths: set[str]) -> list[str]:
    """'file:line: SyntaxError: message' for each of paths (Python files) that does not compile."""
    errors = []
    for path in sorted(paths):
        if not path.endswith(".py") or path not in files:
            continue
        try:
            compile(files[path], path, "exec", dont_inherit=True)
        except SyntaxError as exc:  # IndentationError and TabError are SyntaxErrors
            errors.append(f"{path}:{exc.lineno}: {type(exc).__name__}: {exc.msg}")
        except ValueError as exc:  # a null byte in the source
            errors.append(f"{path}: {exc}")
    return errors


@dataclass(frozen=True)
class Process:
    """One running worker or beat container and what it recorded (None: nothing yet)."""

    container: str
    service: str
    imported: frozenset[str] | None


@dataclass(frozen=True)
class Reload:
    rebuild: list[str] = field(default_factory=list)  # changed files that need a new image
    # service -> its containers to restart, and the changed files each is restarted for
    restart: dict[str, list[str]] = field(default_factory=dict)
    because: dict[str, list[str]] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)  # changed modules no process imported


def plan_reload(changed: set[str], processes: list[Process], rebuild_on: set[str]) -> Reload:
    """Which containers an edit restarts.

    rebuild_on: the app's files the image is built from beyond its code (requirements):
    those need `stack up`'s rebuild. A Python file restarts the processes that imported it;
    one that has not recorded yet (still starting) may import it, so it restarts too. Any
    other file (a template, data) may be read at any time: every process restarts.
    """
    rebuild = sorted(changed & rebuild_on)
    if rebuild:
        return Reload(rebuild=rebuild)
    restart: dict[str, list[str]] = {}
    because: dict[str, list[str]] = {}
    used: set[str] = set()
    for process in processes:
        reasons = sorted(
            path
            for path in changed
            if not path.endswith(".py") or process.imported is None or path in process.imported
        )
        if reasons:
            restart.setdefault(process.service, []).append(process.container)
            because.setdefault(process.service, [])
            because[process.service] = sorted({*because[process.service], *reasons})
            used.update(reasons)
    unused = sorted(p for p in changed if p.endswith(".py") and p not in used)
    return Reload(restart=restart, because=because, unused=unused)
