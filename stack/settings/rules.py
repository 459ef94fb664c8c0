"""Route keys as Celery's MapRoute matches them, indexed so that a lookup does not try them all.

Trying every rule for every task name costs routes x names: 1,000 routes checked against
each other were a million regex matches and a compile of every glob. A glob can only match
names that start with its literal part (the text before its first `*`, `?` or `[`), so the
candidates for a name are found by its own prefixes; only `re:` rules are always tried.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

REGEX_PREFIX = "re:"
GLOB_CHARS = "*?["


def route_key(pattern: str) -> Any:
    """A routes key as Celery's MapRoute takes it: exact name, glob string, or compiled regex."""
    if pattern.startswith(REGEX_PREFIX):
        return re.compile(pattern[len(REGEX_PREFIX) :])
    return pattern


def is_exact(pattern: str) -> bool:
    """A plain task name: MapRoute looks it up, and patterns are the keys with `*` in them."""
    return "*" not in pattern and not pattern.startswith(REGEX_PREFIX)


class Rules:
    """Routes keys in the order added; first(name) is the first of them that matches name."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._exact: dict[str, int] = {}
        self._globs: dict[str, list[int]] = {}  # literal prefix -> positions
        self._regexes: list[int] = []
        self._patterns: list[str] = []
        self._compiled: dict[int, re.Pattern[str]] = {}  # made on first use
        for pattern in patterns:
            self.add(pattern)

    def __len__(self) -> int:
        return len(self._patterns)

    def add(self, pattern: str) -> None:
        position = len(self._patterns)
        self._patterns.append(pattern)
        if pattern.startswith(REGEX_PREFIX):
            self._regexes.append(position)
        elif "*" in pattern:
            literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
            self._globs.setdefault(literal, []).append(position)
        else:
            self._exact.setdefault(pattern, position)

    def first(self, name: str) -> str | None:
        """The first rule that matches name as Celery's MapRoute matches it, else None."""
        candidates = list(self._regexes)
        for end in range(len(name) + 1):
            candidates += self._globs.get(name[:end], ())
        exact = self._exact.get(name)
        if exact is not None:
            candidates.append(exact)
        for position in sorted(candidates):
            if position == exact or self._regex(position).match(name):
                return self._patterns[position]
        return None

    def _regex(self, position: int) -> re.Pattern[str]:
        compiled = self._compiled.get(position)
        if compiled is None:
            pattern = self._patterns[position]
            if pattern.startswith(REGEX_PREFIX):
                compiled = re.compile(pattern[len(REGEX_PREFIX) :])
            else:  # as MapRoute compiles a glob
                compiled = re.compile(fnmatch.translate(pattern))
            self._compiled[position] = compiled
        return compiled
