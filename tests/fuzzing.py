"""Generated and mutated topology files, for the R4 robustness test and bench/faults.py.

Each input goes to the loader and to `stack validate`; the only acceptable outcomes are a
valid topology or a TopologyError (CLI: exit 0 or 1 with one line per problem), never
another exception or a traceback.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ROOT = Path(__file__).resolve().parents[1]
SEEDS = [
    yaml.safe_load((ROOT / "examples" / "colors" / name).read_text(encoding="utf-8"))
    for name in ("topology.yaml", "topology-rabbitmq.yaml")
]
KEYS = sorted(
    {
        "name",
        "app",
        "image",
        "images",
        "broker",
        "backend",
        "default_queue",
        "queues",
        "routes",
        "workers",
        "beat",
        "monitor",
        "bind",
        "celery",
        "replicas",
        "concurrency",
        "pool",
        "every",
        "cron",
        "task",
        "args",
        "kwargs",
        "queue",
        "type",
        "url",
        "port",
        "flower",
        "time_limit",
        "soft_time_limit",
        "autoscale",
        "min_replicas",
        "max_replicas",
        "context",
        "re:(",
        "re:^x$",
        "tasks.*",
        "red_queue",
        "red",
        "embed_beat",
        "prefetch_multiplier",
    }
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(KEYS),
    st.sampled_from(
        [
            "5m",
            "1h30m",
            "-1s",
            "* * * * *",
            "61 * * * *",
            "redis",
            "rabbitmq",
            "none",
            "amqp://x",
            "0",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return root


def _delete(root: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return root
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return root


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """A seed topology with a few random edits: set, delete, rename, add keys."""
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["set", "delete", "rename", "add"]))
        if action == "set":
            doc = _set(doc, path, draw(values))
        elif action == "delete":
            doc = _delete(doc, path)
        elif path:
            parent = doc
            for part in path[:-1]:
                parent = parent[part]
            if isinstance(parent, dict):
                key = draw(st.sampled_from(KEYS) | st.text(min_size=1, max_size=10))
                if action == "rename":
                    parent[key] = parent.pop(path[-1])
                else:
                    parent[key] = draw(values)
        if not isinstance(doc, dict | list):
            break
    return doc


@st.composite
def topology_texts(draw: st.DrawFn) -> str:
    """YAML text: a mutated document, sometimes with raw text edits on top."""
    text = yaml.dump(draw(mutated_documents()), Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
    if draw(st.booleans()):
        lines = text.splitlines()
        for _ in range(draw(st.integers(1, 3))):
            if not lines:
                break
            index = draw(st.integers(0, len(lines) - 1))
            edit = draw(st.sampled_from(["drop", "dup", "indent", "garble"]))
            if edit == "drop":
                lines.pop(index)
            elif edit == "dup":
                lines.insert(index, lines[index])
            elif edit == "indent":
                lines[index] = " " * draw(st.integers(1, 3)) + lines[index]
            else:
                junk = draw(
                    st.sampled_from(
                        [
                            ":",
                            "- ",
                            "[",
                            "{",
                            "&a",
                            "*a",
                            "!!python/object:os.system",
                            "\t",
                            '"',
                            "<<: *x",
                        ]
                    )
                )
                position = draw(st.integers(0, len(lines[index])))
                lines[index] = lines[index][:position] + junk + lines[index][position:]
        text = "\n".join(lines) + "\n"
    return text
