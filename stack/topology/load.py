"""Topology file -> Topology, with every problem located by file, line and key path."""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stack.errors import Problem, TopologyError
from stack.topology.model import CELERY_CHECKS, Topology
from stack.topology.yamlio import KeyPath, Located, dotted, load_file, load_text

DEFAULT_FILE = "topology.yaml"


@dataclass(frozen=True)
class Loaded:
    """A valid topology, where it came from, and the warnings found in it."""

    topology: Topology
    path: Path
    warnings: list[Problem]

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def discover(path: str | Path | None) -> Path:
    """The argument, else $STACK_FILE, else ./topology.yaml."""
    if path:
        return Path(path)
    env = os.environ.get("STACK_FILE")
    return Path(env) if env else Path(DEFAULT_FILE)


def load(path: str | Path | None = None, full: bool = True) -> Loaded:
    """Load, validate and cross-check a topology file; raise TopologyError with every error.

    full=False leaves out the warnings and what needs Celery: the parse of cron expressions
    by Celery's crontab (their five fields are still checked). For the commands that only
    look at or resize what `stack up` started (scale, ps, logs, down): they show no warnings
    and run no schedule, and Celery's imports were ~0.15 s of `stack scale`'s way to its
    first container.
    """
    file = discover(path)
    return _build(load_file(file), file, full)


def load_string(text: str, file: str = "<string>") -> Loaded:
    """As load(), from text (tests, tools)."""
    return _build(load_text(text, file), Path(file))


def _build(located: Located, file: Path, full: bool = True) -> Loaded:
    from stack.topology.check import check  # only after parsing succeeded

    data = located.data
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise TopologyError(
            [Problem(located.file, 1, "", f"a topology is a mapping of keys, got {kind}")]
        )
    try:
        topology = Topology.model_validate(data, context={CELERY_CHECKS: full})
    except ValidationError as exc:
        raise TopologyError(_problems(exc, located)) from None
    findings = [
        Problem(located.file, located.line_of(path), dotted(path), message, severity)
        for severity, path, message in check(topology, warnings=full)
    ]
    errors = [p for p in findings if p.severity == "error"]
    if errors:
        raise TopologyError(errors)
    return Loaded(topology=topology, path=file, warnings=findings)


def _problems(exc: ValidationError, located: Located) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc: KeyPath = tuple(p for p in err["loc"] if p != "[key]")
        if err["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}" + _suggest(loc)
        elif err["type"] == "missing":
            message = "required key is missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
            if "[key]" in err["loc"]:
                message = f"invalid name {loc[-1]!r}: {message}"
        problems.append(Problem(located.file, located.line_of(loc), dotted(loc), message))
    return problems


def _suggest(loc: KeyPath) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(loc: KeyPath) -> type[BaseModel] | None:
    """The model class that validates the mapping at loc, following dict and list types."""
    current: Any = Topology
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            origin = typing.get_origin(current)
            if origin in (typing.Union, types.UnionType) and len(args) == 1:
                current = args[0]
            if origin is dict or typing.get_origin(current) is dict:
                current = typing.get_args(current)[1]
            elif origin is list or typing.get_origin(current) is list:
                current = typing.get_args(current)[0]
            else:
                return None
        current = _strip_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
