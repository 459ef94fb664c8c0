"""The app image's build context carries the code that runs inside containers, and only it."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from stack.container import paths
from stack.deploy import context
from stack.deploy.ops.build import code_hash
from stack.deploy.ops.project import from_loaded
from stack.topology.load import load
from tests.helpers import COLORS, ROOT, mentions_path

PACKAGE = ROOT / "stack"


def image_modules() -> list[Path]:
    found = []
    for part in context.IMAGE_PARTS:
        path = PACKAGE / part
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def imported(path: Path) -> set[str]:
    """Every stack module path imports, at module level or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n == "stack" or n.startswith("stack.")}


def in_image(module: str) -> bool:
    parts = module.split(".")[1:]
    if not parts:
        return True  # the package itself
    if not (PACKAGE / parts[0]).exists() and not (PACKAGE / f"{parts[0]}.py").exists():
        return True  # a name the package defines (stack.__version__)
    return parts[0] in context.IMAGE_PARTS or f"{parts[0]}.py" in context.IMAGE_PARTS


@pytest.mark.parametrize("path", image_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_code_in_the_image_imports_nothing_the_image_lacks(path: Path) -> None:
    outside = sorted(m for m in imported(path) if not in_image(m))
    # stack/__init__.py names the producer lazily: stack.connect() runs in the user's process.
    if path == PACKAGE / "__init__.py":
        outside = [m for m in outside if not m.startswith("stack.producer")]
    assert outside == [], f"{path.relative_to(ROOT)} imports host-only {outside}"


def colours_files(app: Path, package: Path) -> dict[str, bytes]:
    project = from_loaded(load(app / "topology.yaml"))
    original = context.PACKAGE_DIR
    context.PACKAGE_DIR = package
    try:
        return context.context_files(project.loaded, project.images, None)
    finally:
        context.PACKAGE_DIR = original


def test_the_image_carries_no_host_only_code(tmp_path: Path) -> None:
    app = tmp_path / "colors"
    shutil.copytree(COLORS, app, ignore=shutil.ignore_patterns(".stack", "__pycache__"))
    kit = sorted(n for n in colours_files(app, PACKAGE) if n.startswith("stack/"))
    assert "stack/container/boot.py" in kit
    assert "stack/settings/snapshot.py" in kit
    assert "stack/topology/load.py" in kit
    assert not [n for n in kit if n.startswith(("stack/cli/", "stack/deploy/"))]
    assert "stack/producer.py" not in kit


def test_only_an_edit_of_image_code_changes_the_code_hash(tmp_path: Path) -> None:
    app = tmp_path / "colors"
    shutil.copytree(COLORS, app, ignore=shutil.ignore_patterns(".stack", "__pycache__"))
    package = tmp_path / "stack"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    project = from_loaded(load(app / "topology.yaml"))

    def digest() -> str:
        return code_hash(colours_files(app, package), "sha256:base", project)

    first = digest()
    for host_only in ("cli/main.py", "deploy/ops/up.py", "producer.py"):
        path = package / host_only
        path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert digest() == first
    boot = package / "container" / "boot.py"
    boot.write_text(boot.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert digest() != first


LAYOUT_TEST = {
    "APP_DIR": "/t/app", "TOPOLOGY": "/t/etc/topo.yaml", "KIT_DIR": "/t/kit",
    "SNAPSHOT": "/t/kit/snap", "VENV": "/t/venv", "DATA_DIR": "/t/data",
    "BEAT_DIR": "/t/data/beat", "STATE_DIR": "/t/state", "USER": "tester",
    "UID": 4242, "GID": 4343,
}  # fmt: skip


def test_the_dockerfile_follows_the_container_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each path of stack.container.paths lands where the image needs it; none of the
    real ones is left in the text when they all change."""
    project = from_loaded(load(COLORS / "topology.yaml"))
    real = {name: getattr(paths, name) for name in LAYOUT_TEST}
    for name, value in LAYOUT_TEST.items():
        monkeypatch.setattr(paths, name, value)
    text = context.dockerfile(project.loaded, project.images, offline=True, app_requirements=True)
    lines = text.splitlines()
    expected = [
        "    PATH=/t/venv/bin:$PATH PYTHONPATH=/t/kit \\",
        "    STACK_STATE_DIR=/t/state",
        "RUN python3 -m venv /t/venv",
        "COPY stack/ /t/kit/stack/",
        "COPY topology.yaml /t/etc/topo.yaml",
        "COPY app/ /t/app/",
        "RUN python -m stack.settings.snapshot /t/etc/topo.yaml /t/kit/snap \\",
        "    && python -m compileall -q /t/kit \\",
        "    && mkdir -p /t/data/beat /t/state && chown -R 4242:4343 /t/data /t/state \\",
        '    && echo "tester:x:4242:4343:tester:/t/app:/usr/sbin/nologin" >> /etc/passwd \\',
        '    && echo "tester:x:4343:" >> /etc/group',
        "WORKDIR /t/app",
        "USER 4242:4343",
    ]
    assert [line for line in expected if line not in lines] == []
    left = [v for v in real.values() if str(v).startswith("/") and mentions_path(text, str(v))]
    assert left == []
    assert "10001" not in text
