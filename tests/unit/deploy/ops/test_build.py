"""An app image build that misses a requirement: one line naming it and `stack wheels`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.deploy.ops import build
from stack.deploy.ops.project import from_loaded
from stack.errors import RuntimeStackError
from stack.topology.load import load

# The tail of a real build log (legacy builder, pip 23 in Debian bookworm's python3).
PIP_LOG = [
    "Step 6/13 : RUN pip install --no-cache-dir --disable-pip-version-check --no-index "
    "--find-links /tmp/wheels -r /tmp/requirements/stack.txt -r /tmp/requirements/app.txt\n",
    " ---> Running in 0c3f6b0e2a1d\n",
    "Looking in links: /tmp/wheels\n",
    "Processing /tmp/wheels/celery-5.7.0-py3-none-any.whl\n",
    "ERROR: Could not find a version that satisfies the requirement django>=4.2 (from "
    "versions: none)\n",
    "ERROR: No matching distribution found for django>=4.2\n",
]
FAILED = (
    "build demo-app:latest: The command '/bin/sh -c pip install ...' returned a non-zero code: 1"
)


class FailingBuild:
    """The DockerClient calls ensure_app_image makes, with a build that fails as pip does."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def require_image(self, tag: str, hint: str) -> str:
        return "sha256:base"

    def image(self, tag: str) -> Any:
        return None

    def build(self, context: Any, tag: str, image_labels: dict[str, str]) -> Iterator[str]:
        yield from self.log
        raise RuntimeStackError(FAILED)


@pytest.fixture
def project(write_topology: Any) -> Any:
    path = write_topology("name: demo\napp: proj\nqueues: [q]\nworkers:\n  w: {queues: [q]}\n")
    (Path(path).parent / "requirements.txt").write_text("django>=4.2\n")
    return from_loaded(load(path))


def test_a_package_missing_from_the_wheelhouse_is_named_with_the_command(
    project: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STACK_WHEELHOUSE", str(tmp_path / "wheels"))
    with pytest.raises(RuntimeStackError) as caught:
        build.ensure_app_image(FailingBuild(PIP_LOG), project, lambda _: None)  # type: ignore[arg-type]
    assert str(caught.value) == (
        f"the app image cannot install django>=4.2: it is not in the wheelhouse "
        f"{tmp_path / 'wheels'} ($STACK_WHEELHOUSE); add the app's requirements to it with "
        f"`stack wheels {project.loaded.path}`"
    )


def test_without_a_wheelhouse_the_message_says_how_to_make_one(
    project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STACK_WHEELHOUSE", raising=False)
    with pytest.raises(RuntimeStackError) as caught:
        build.ensure_app_image(FailingBuild(PIP_LOG), project, lambda _: None)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("the app image cannot install django>=4.2: pip found")
    assert f"`stack wheels {project.loaded.path} --out DIR`" in str(caught.value)


def test_other_build_failures_keep_their_log(project: Any) -> None:
    with pytest.raises(RuntimeStackError) as caught:
        build.ensure_app_image(FailingBuild(PIP_LOG[:3]), project, lambda _: None)  # type: ignore[arg-type]
    assert str(caught.value) == FAILED
