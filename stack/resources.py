"""Files shipped with the kit (chart, image templates), installed or from a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# A wheel carries helm/ and compose/templates/ as stack/_data/{helm,compose} (pyproject).
_INSTALLED = {"helm": _PACKAGE / "_data" / "helm", "compose": _PACKAGE / "_data" / "compose"}
_SOURCE = {"helm": _PACKAGE.parent / "helm", "compose": _PACKAGE.parent / "compose" / "templates"}


def data_path(kind: str, *parts: str) -> Path:
    """Path of a shipped file: kind is "helm" or "compose"."""
    for root in (_INSTALLED[kind], _SOURCE[kind]):
        if root.is_dir():
            return root.joinpath(*parts)
    raise FileNotFoundError(f"stack's {kind} files are missing from this installation")
