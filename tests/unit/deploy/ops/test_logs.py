"""`interleave`: several log streams followed at once (stack logs --follow, on Docker and
on Swarm): each stream's lines in order, split across chunks, a broken stream said in a
line while the others go on."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from stack.deploy.ops.logs import interleave
from stack.errors import RuntimeStackError


def test_lines_of_every_stream_in_order_until_all_end() -> None:
    go = threading.Event()

    def first() -> Iterator[bytes]:
        yield b"a1\na"
        go.wait(5)  # the second stream's line comes while this one is open
        yield b"2\n"
        yield b"a3"  # the last line needs no newline

    def second() -> Iterator[bytes]:
        yield b"b1\n"
        go.set()

    got = list(interleave({"a": first, "b": second}))
    assert [line for name, line in got if name == "a"] == [b"a1", b"a2", b"a3"]
    assert [line for name, line in got if name == "b"] == [b"b1"]
    assert got.index(("b", b"b1")) < got.index(("a", b"a2"))


def test_a_stream_that_fails_says_so_and_the_others_go_on() -> None:
    def refused() -> Iterator[bytes]:
        raise RuntimeStackError("logs of p_red: no such service")

    def cut() -> Iterator[bytes]:
        yield b"x1\n"
        raise ConnectionError("engine gone")

    got = dict(interleave({"red": refused, "blue": cut, "green": lambda: iter([b"g\n"])}))
    assert got["red"] == b"(logs ended: logs of p_red: no such service)"
    assert got["blue"] == b"(logs ended: engine gone)"
    assert got["green"] == b"g"
    assert list(interleave({})) == []


def test_logs_follow_on_swarm_prints_each_tasks_lines_and_ctrl_c_exits_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from stack.cli import runtime_cmds
    from stack.cli.main import app as cli
    from stack.deploy.swarm import apply

    asked: list[tuple[str, str | None, int | None, bool]] = []

    def followed(
        project: str, service: str | None, tail: int | None, *, follow: bool = False
    ) -> Iterator[tuple[str, str]]:
        asked.append((project, service, tail, follow))
        yield "p_red.1", "[INFO] red@x ready."
        raise KeyboardInterrupt

    monkeypatch.setattr(runtime_cmds, "_on_swarm", lambda file: "p")
    monkeypatch.setattr(apply, "logs", followed)
    result = CliRunner().invoke(cli, ["logs", "red", "--follow", "-n", "5"])
    assert result.exit_code == 0, result.output
    assert "p_red.1 | [INFO] red@x ready." in result.output
    assert asked == [("p", "red", 5, True)]
