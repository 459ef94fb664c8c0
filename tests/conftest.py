from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def write_topology(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write YAML text to tmp_path/topology.yaml and return its path."""

    def write(text: str, name: str = "topology.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
