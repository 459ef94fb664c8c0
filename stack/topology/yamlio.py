"""The one place YAML is read and written: safe loading with line numbers, safe dumping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stack.errors import Problem, TopologyError

KeyPath = tuple[str | int, ...]

# libyaml when present (much faster on large files); the pure-Python classes otherwise.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class Located:
    """Data loaded from YAML plus the line of every key path, for error messages."""

    data: Any
    file: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of the deepest prefix of path that the file has (1-based)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def _walk(
    node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], dups: list[tuple[KeyPath, int]]
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            sub = (*path, key)
            if key in seen:
                dups.append((sub, key_node.start_mark.line + 1))
            seen.add(key)
            lines[sub] = key_node.start_mark.line + 1
            _walk(value_node, sub, lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, dups)


def load_text(text: str, file: str) -> Located:
    """Parse YAML text; bad YAML and duplicate keys become a TopologyError with the line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise TopologyError([Problem(file, line, "", f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise TopologyError([Problem(file, None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    dups: list[tuple[KeyPath, int]] = []
    if node is not None:
        _walk(node, (), lines, dups)
    if dups:
        raise TopologyError(
            [
                Problem(file, line, dotted(path), f"duplicate key {path[-1]!r}")
                for path, line in dups
            ]
        )
    return Located(data=data, file=file, lines=lines)


def load_file(path: Path) -> Located:
    """Read and parse a YAML file; a missing or unreadable file is a one-line error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopologyError([Problem(str(path), None, "", "file not found")]) from None
    except IsADirectoryError:
        raise TopologyError([Problem(str(path), None, "", "is a directory, not a file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TopologyError([Problem(str(path), None, "", f"cannot read: {reason}")]) from None
    return load_text(text, str(path))


def dotted(path: KeyPath) -> str:
    """A key path as users write it: workers.red.queues[0]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    # Rendered dicts share sub-objects; anchors/aliases would make the output unreadable.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_presenter(dumper: Any, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    node: yaml.ScalarNode = dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)
    return node


_Dumper.add_representer(str, _str_presenter)


def dump(data: Mapping[str, Any] | list[Any]) -> str:
    """Dump data as block YAML in insertion order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
