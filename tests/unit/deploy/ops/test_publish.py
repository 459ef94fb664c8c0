"""`stack build`'s registry reference, its push progress, and where it may push."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stack.cli.main import app as cli
from stack.deploy.ops.publish import Layer, layers, reference, registry_of, repository
from stack.errors import TopologyError
from stack.topology.load import load, load_string
from tests.helpers import COLORS, project_copy

TOPOLOGY = load(COLORS / "topology.yaml").topology


def test_the_reference_is_the_registry_the_repository_and_12_hex_of_the_content() -> None:
    assert reference("127.0.0.1:5000/team/", TOPOLOGY, "0123456789abcdef") == (
        "127.0.0.1:5000/team/colors-app:0123456789ab"
    )
    named = TOPOLOGY.model_copy(
        update={"image": TOPOLOGY.image.model_copy(update={"name": "acme/shop:dev"})}
    )
    assert repository(named) == "shop"
    assert registry_of(TOPOLOGY, None) is None
    assert registry_of(TOPOLOGY, "r.example:443/x") == "r.example:443/x"


@pytest.mark.parametrize("good", ["127.0.0.1:5000", "registry.example.com/team/sub", "r:1"])
def test_a_registry_is_host_port_and_path(good: str) -> None:
    text = (
        (COLORS / "topology.yaml")
        .read_text()
        .replace("image: {context: .}", f"image: {{context: ., registry: '{good}'}}")
    )
    assert load_string(text).topology.image.registry == good


@pytest.mark.parametrize("bad", ["https://r.example", "R.example", "r.example/Team", "r:/x"])
def test_a_registry_url_or_capitals_are_a_located_error(bad: str) -> None:
    text = (
        (COLORS / "topology.yaml")
        .read_text()
        .replace("image: {context: .}", f"image: {{context: ., registry: '{bad}'}}")
    )
    with pytest.raises(TopologyError, match=r"image\.registry"):
        load_string(text)


def test_push_progress_per_layer_and_the_digest_at_the_end() -> None:
    messages = [
        {"status": "The push refers to repository [r/x]"},
        {"status": "Preparing", "progressDetail": {}, "id": "aaa"},
        {"status": "Pushing", "progressDetail": {"current": 512, "total": 1024}, "id": "aaa"},
        {"status": "Pushed", "progressDetail": {}, "id": "aaa"},
        {"status": "tag: digest: sha256:abc size: 1"},
        {"progressDetail": {}, "aux": {"Tag": "t", "Digest": "sha256:abc", "Size": 1}},
    ]
    seen = list(layers(iter(messages)))
    assert [layer for layer, _ in seen if layer] == [
        Layer("aaa", "Preparing"),
        Layer("aaa", "Pushing", 512, 1024),
        Layer("aaa", "Pushed"),
    ]
    assert [digest for _, digest in seen if digest] == ["sha256:abc"]


def test_push_without_a_registry_is_a_one_line_error(tmp_path: Path) -> None:
    path = project_copy(tmp_path, "topology.yaml", "t-publish")
    result = CliRunner().invoke(cli, ["build", str(path), "--push"])
    assert result.exit_code == 1
    assert "nowhere to push: set image.registry" in result.output
    assert "Traceback" not in result.output


def test_swarm_refuses_the_helm_only_options_before_anything_runs(tmp_path: Path) -> None:
    path = project_copy(tmp_path, "topology.yaml", "t-publish")
    result = CliRunner().invoke(cli, ["deploy", str(path), "--target", "swarm", "--dry-run"])
    assert result.exit_code == 1
    assert "--dry-run: for the Helm target only" in result.output
    result = CliRunner().invoke(cli, ["deploy", str(path), "--target", "nomad"])
    assert result.exit_code == 1
    assert "choose helm or swarm" in result.output
