"""Which app containers an edit of the topology recreates: those whose settings changed."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from stack.deploy import revision
from stack.deploy import services as plan
from stack.deploy.docker.spec import container_specs
from stack.deploy.ops.build import code_hash
from stack.deploy.ops.project import from_loaded
from stack.deploy.revision import app_revisions
from stack.deploy.secrets import Secrets
from stack.topology import yamlio
from stack.topology.load import load, load_string
from tests.helpers import COLORS, EXTERNAL, RABBIT, ROOT, big_topology

COLOURS = (COLORS / "topology.yaml").read_text(encoding="utf-8")


def revisions(text: str, code: str = "code") -> dict[str, str]:
    topology = load_string(text, "topology.yaml").topology
    return app_revisions(code, topology, plan.services(topology, plan.images(topology)))


def edit(old: str, new: str, text: str = COLOURS) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def test_only_app_services_have_a_revision() -> None:
    apps = {"red", "green", "blue", "colorful", "beat", "flower", "metrics"}
    assert set(revisions(COLOURS)) == apps


@pytest.mark.parametrize("text", [COLOURS, RABBIT, EXTERNAL], ids=["colors", "rabbit", "ext"])
def test_revisions_are_the_same_in_every_process(text: str, tmp_path: Path) -> None:
    """Set order and object addresses differ between processes; the digests must not, or
    every `stack up` would recreate every container."""
    path = tmp_path / "topology.yaml"
    path.write_text(text, encoding="utf-8")
    script = (
        "import sys; from stack.deploy import services as plan; "
        "from stack.topology.load import load; "
        "from stack.deploy.revision import app_revisions; t = load(sys.argv[1]).topology; "
        "print(sorted(app_revisions('c', t, plan.services(t, plan.images(t))).items()))"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        run = subprocess.run(
            [sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        outputs.add(run.stdout)
    assert len(outputs) == 1, outputs


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # a group's own setting: that group
        ("green:    {queues: [green_queue]}", "green:    {queues: [green_queue], "
         "concurrency: 3}", {"green"}),
        ("blue:     {queues: [blue_queue]}", "blue:     {queues: [blue_queue], "
         "time_limit: 60}", {"blue"}),
        # the schedule: beat alone
        ("every: 2}", "every: 5}", {"beat"}),
        ('cron: "30 7 * * 1"', 'cron: "30 8 * * 1"', {"beat"}),
        # what every process reads: all of them
        ("tasks.multiply: blue_queue", "tasks.multiply: red_queue",
         {"red", "green", "blue", "colorful", "beat", "flower", "metrics"}),
        ("app: tasks:app", "app: tasks:other",
         {"red", "green", "blue", "colorful", "beat", "flower", "metrics"}),
        ("queues: [red_queue, green_queue, blue_queue]\n",
         "queues: [red_queue, green_queue, blue_queue, extra]\n",
         {"red", "green", "blue", "colorful", "beat", "flower", "metrics"}),
        # a worker that embeds beat runs the schedule too
        ("blue:     {queues: [blue_queue]}", "blue:     {queues: [blue_queue], "
         "embed_beat: true}", {"blue"}),
        # a comment, replicas: none (replicas are containers, not settings)
        ("# exact name", "# exactly this name", set()),
        ("concurrency: 2, replicas: 1}", "concurrency: 2, replicas: 3}", set()),
    ],
)  # fmt: skip
def test_an_edit_changes_the_revisions_of_what_it_touches(
    old: str, new: str, expected: set[str]
) -> None:
    assert changed(revisions(COLOURS), revisions(edit(old, new))) == expected


ORDERED = """\
name: order
app: tasks:app
queues: [a, b]
routes:
  {first}
  {second}
workers:
  w: {{queues: [a, b]}}
"""


def test_swapping_two_overlapping_routes_changes_every_revision() -> None:
    """First match wins: swapping two overlapping rules changes what every process routes."""
    glob, exact = '"tasks.*": a', "tasks.x: b"
    before = revisions(ORDERED.format(first=glob, second=exact))
    after = revisions(ORDERED.format(first=exact, second=glob))
    assert changed(before, after) == {"w", "flower", "metrics"}


def test_a_group_whose_env_sets_stack_group_follows_that_groups_settings() -> None:
    """boot.py loads the settings of STACK_GROUP, which a group's env may point elsewhere."""
    text = edit("red:      {queues: [red_queue], concurrency: 2, replicas: 1}",
                "red:      {queues: [red_queue], env: {STACK_GROUP: blue}}")  # fmt: skip
    later = edit("blue:     {queues: [blue_queue]}", "blue:     {queues: [blue_queue], "
                 "time_limit: 60}", text)  # fmt: skip
    assert changed(revisions(text), revisions(later)) == {"red", "blue"}


def test_a_worker_that_embeds_beat_follows_the_schedule() -> None:
    embedded = edit("blue:     {queues: [blue_queue]}",
                    "blue:     {queues: [blue_queue], embed_beat: true}")  # fmt: skip
    assert changed(revisions(embedded), revisions(edit("every: 2}", "every: 5}", embedded))) == {
        "beat",
        "blue",
    }


def test_a_new_code_hash_changes_every_revision() -> None:
    before, after = revisions(COLOURS, "one"), revisions(COLOURS, "two")
    assert changed(before, after) == set(before)


def spec_hash(image_id: str, revision: str | None) -> str:
    topology = load(COLORS / "topology.yaml").topology
    service = next(s for s in plan.services(topology, plan.images(topology)) if s.name == "red")
    secrets = Secrets("b" * 32, "f" * 32)
    return container_specs(service, topology, secrets, image_id, revision=revision)[0].config_hash


def test_config_hash_holds_the_revision_not_the_image_id() -> None:
    assert spec_hash("sha256:aaa", "r1") == spec_hash("sha256:bbb", "r1")
    assert spec_hash("sha256:aaa", "r1") != spec_hash("sha256:aaa", "r2")
    # Without a revision (Redis, RabbitMQ) the image id is it.
    assert spec_hash("sha256:aaa", None) != spec_hash("sha256:bbb", None)


def test_code_hash_leaves_out_the_topology_but_not_the_app_code(tmp_path: Path) -> None:
    from stack.deploy.context import context_files

    app = tmp_path / "colors"
    shutil.copytree(COLORS, app, ignore=shutil.ignore_patterns(".stack", "__pycache__"))

    def hashes() -> str:
        project = from_loaded(load(app / "topology.yaml"))
        files = context_files(project.loaded, project.images, None)
        assert "topology.yaml" in files
        assert "app/topology.yaml" in files
        return code_hash(files, "sha256:base", project)

    first = hashes()
    path = app / "topology.yaml"
    path.write_text(re.sub("every: 2", "every: 3", path.read_text()), encoding="utf-8")
    assert hashes() == first
    (app / "tasks.py").write_text((app / "tasks.py").read_text() + "\n# edited\n")
    assert hashes() != first


def test_dockerignore_keeps_files_out_of_the_image_and_the_code_hash(tmp_path: Path) -> None:
    from stack.deploy.context import context_files

    app = tmp_path / "colors"
    shutil.copytree(COLORS, app, ignore=shutil.ignore_patterns(".stack", "__pycache__"))
    (app / "data").mkdir()
    (app / "data" / "big.csv").write_text("1,2\n")
    (app / "notes.md").write_text("draft\n")
    (app / "keep.md").write_text("kept\n")
    (app / ".dockerignore").write_text("# comment\ndata/\n*.md\n!keep.md\n")

    def files() -> dict[str, bytes]:
        project = from_loaded(load(app / "topology.yaml"))
        return context_files(project.loaded, project.images, None)

    first = files()
    assert "app/data/big.csv" not in first
    assert "app/notes.md" not in first
    assert "app/README.md" not in first
    assert "app/keep.md" in first
    assert "app/tasks.py" in first
    project = from_loaded(load(app / "topology.yaml"))
    before = code_hash(first, "sha256:base", project)
    (app / "data" / "big.csv").write_text("3,4\n")
    (app / "notes.md").write_text("edited\n")
    assert code_hash(files(), "sha256:base", project) == before
    (app / "keep.md").write_text("edited\n")
    assert code_hash(files(), "sha256:base", project) != before


def test_each_shared_setting_is_canonicalised_and_hashed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every group's settings hold the same routes and queues: their canonical form is made
    once for all groups, and each revision hashes a few digests, not a text the size of the
    topology. Once per group, twice the topology would cost four times the work."""
    canonical, sha256 = revision.canonical, hashlib.sha256
    work = {"canonical": 0, "hashed": 0}

    def counting_canonical(value: Any) -> Any:
        work["canonical"] += 1
        return canonical(value)

    def counting_sha256(data: bytes) -> Any:
        work["hashed"] += len(data)
        return sha256(data)

    monkeypatch.setattr(revision, "canonical", counting_canonical)
    monkeypatch.setattr(revision, "hashlib", SimpleNamespace(sha256=counting_sha256))
    counts = []
    for queues in (100, 200):
        topology = load_string(yamlio.dump(big_topology(queues))).topology
        services = plan.services(topology, plan.images(topology, env={}))
        work.update(canonical=0, hashed=0)
        # groups, beat, flower and the metrics exporter
        assert len(app_revisions("code", topology, services)) == queues * 2 // 5 + 3
        counts.append(dict(work))
    small, large = counts
    for key in work:
        assert large[key] / small[key] < 2.4, (key, small[key], large[key])
