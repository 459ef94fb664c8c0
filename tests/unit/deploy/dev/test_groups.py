"""`stack dev --groups` names worker groups of the topology, or fails in one line."""

from __future__ import annotations

from typer.testing import CliRunner

from stack.cli.main import app as cli
from tests.helpers import COLORS


def test_an_unknown_group_is_one_line_and_exit_1() -> None:
    result = CliRunner().invoke(cli, ["dev", str(COLORS / "topology.yaml"), "--groups", "red,nope"])
    assert result.exit_code == 1
    assert "no worker group 'nope'; the groups are red, green, blue, colorful" in result.output
    assert "Traceback" not in result.output
