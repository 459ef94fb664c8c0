"""Files shipped with the kit (the Helm chart, compose templates), installed or editable."""

from __future__ import annotations

from pathlib import Path

from stack.errors import StackError

_PACKAGE = Path(__file__).resolve().parents[1]  # stack/
_REPO = _PACKAGE.parent
# Where pyproject's wheel force-include takes each top-level data directory from.
_REPO_SOURCES: dict[str, tuple[str, ...]] = {"compose": ("compose", "templates")}


def data_path(*parts: str) -> Path:
    """stack/_data/<parts> in a wheel, else the same directory in the source checkout."""
    if not parts:
        raise ValueError("data_path needs at least one path part")
    packaged = _PACKAGE.joinpath("_data", *parts)
    if packaged.exists():
        return packaged
    head, *rest = parts
    source = _REPO.joinpath(*_REPO_SOURCES.get(head, (head,)), *rest)
    if source.exists():
        return source
    raise StackError(
        f"kit data {'/'.join(parts)} not found (looked in {packaged} and {source}); "
        "reinstall stack-celery"
    )
