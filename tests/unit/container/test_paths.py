"""The image's layout is spelt once, in stack/container/paths.py: no other module of the kit,
nor the Dockerfile template, nor the chart's templates, writes one of its paths or its uid."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from stack.container import paths
from tests.helpers import ROOT, mentions_path

# TMP_DIR ("/tmp") is left out: the build's own scratch dirs and the broker's pods use
# /tmp too, and neither is the app image's layout.
LAYOUT = {
    name: value
    for name, value in vars(paths).items()
    if name.isupper() and isinstance(value, str) and value.startswith("/") and name != "TMP_DIR"
}
IDS = {paths.UID, paths.GID}


def literals(source: str, filename: str) -> list[str]:
    """The layout's paths and ids written as literals in Python source."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Constant):
            continue
        where = f"{filename}:{node.lineno}"
        if isinstance(node.value, str):
            found += [f"{where}: {n}" for n, v in LAYOUT.items() if mentions_path(node.value, v)]
        elif type(node.value) is int and node.value in IDS:
            found.append(f"{where}: {node.value}")
    return found


def test_the_check_finds_a_path_or_uid_written_out() -> None:
    source = 'A = "/app"\nB = f"-s /var/lib/stack/beat/schedule"\nUSER = 10001\nC = "/app.txt"\n'
    found = sorted(hit.split(": ")[1] for hit in literals(source, "x.py"))
    assert found == ["10001", "APP_DIR", "BEAT_DIR", "DATA_DIR"]


def test_no_module_of_the_kit_writes_out_the_layout() -> None:
    found = [
        hit
        for path in sorted((ROOT / "stack").rglob("*.py"))
        if path != Path(paths.__file__)
        for hit in literals(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert found == []


def test_no_template_writes_out_the_layout() -> None:
    templates = [
        ROOT / "compose" / "templates" / "Dockerfile",
        *sorted((ROOT / "helm" / "stack" / "templates").iterdir()),
    ]
    found = []
    for template in templates:
        text = template.read_text(encoding="utf-8")
        found += [f"{template.name}: {n}" for n, v in LAYOUT.items() if mentions_path(text, v)]
        found += [f"{template.name}: {i}" for i in IDS if re.search(rf"\b{i}\b", text)]
    assert found == []
