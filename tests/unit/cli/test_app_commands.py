"""The commands around the user's app, on the host, where neither the app's code nor its
dependencies are: each failure path is one line on stderr and exit 1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stack.cli.main import app
from stack.deploy.docker import client as docker_client

runner = CliRunner()

TOPOLOGY = """\
name: shop
app: {app}
queues: [orders, mail]
routes:
  "shop.orders.*": orders
  shop.mail.send: mail
workers:
  w: {{queues: [orders, mail]}}
"""


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An engine address where nothing listens, and no client left from another test."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setattr(docker_client, "_client", None)


def one_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def test_send_never_imports_the_users_app(
    write_topology: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Django project's app cannot be imported where Django is not installed: send goes
    by name through an app made of the topology alone."""
    path = write_topology(TOPOLOGY.format(app="shop_not_on_this_host.celery:app"))
    monkeypatch.setenv("STACK_BROKER_URL", "memory://")
    result = runner.invoke(app, ["send", "shop.orders.place", "-f", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert '"queue": "orders"' in result.stdout
    assert not [m for m in sys.modules if m.startswith("shop_not_on_this_host")]


def test_send_to_a_broker_that_does_not_answer_is_one_line(
    write_topology: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_topology(TOPOLOGY.format(app="proj"))
    monkeypatch.setenv("STACK_BROKER_URL", "redis://127.0.0.1:1/0")
    line = one_line(runner.invoke(app, ["send", "shop.mail.send", "-f", str(path)]))
    assert line.startswith("Error: cannot send shop.mail.send: OperationalError: ")


def test_send_without_docker_or_a_broker_url_is_one_line(
    write_topology: Any, monkeypatch: pytest.MonkeyPatch, no_docker: None
) -> None:
    path = write_topology(TOPOLOGY.format(app="proj"))
    monkeypatch.delenv("STACK_BROKER_URL", raising=False)
    line = one_line(runner.invoke(app, ["send", "shop.mail.send", "-f", str(path)]))
    assert line.startswith("Error: cannot reach the Docker engine: ")


def test_routes_app_without_docker_says_so_in_one_line(
    write_topology: Any, no_docker: None
) -> None:
    path = write_topology(TOPOLOGY.format(app="proj"))
    line = one_line(runner.invoke(app, ["routes", str(path), "--app"]))
    assert line.startswith(
        "Error: listing the app's tasks (asked of the app image, which imports the app as a "
        "worker does) needs Docker: cannot reach the Docker engine: "
    ), line


def test_routes_without_app_needs_no_docker(write_topology: Any, no_docker: None) -> None:
    path = write_topology(TOPOLOGY.format(app="proj"))
    result = runner.invoke(app, ["routes", str(path), "shop.orders.place"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("spec", ["proj", "proj.celery", "proj.celery:app", "tasks:app", "a_b.c"])
def test_validate_takes_every_form_celery_a_takes(write_topology: Any, spec: str) -> None:
    result = runner.invoke(app, ["validate", str(write_topology(TOPOLOGY.format(app=spec)))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("spec", ["proj:", "proj.celery:app.x", "1proj", "proj..celery", "a b"])
def test_validate_refuses_what_celery_a_does_not_take(write_topology: Any, spec: str) -> None:
    path = write_topology(TOPOLOGY.format(app=f"'{spec}'"))
    line = one_line(runner.invoke(app, ["validate", str(path)]))
    assert line == (
        f"{path}:2: app: error: expected what `celery -A` takes: a module or package ('proj', "
        f"'proj.celery') or module:attribute ('proj.celery:app'), got {spec!r}"
    )


def test_env_of_every_app_container_is_checked(write_topology: Any) -> None:
    path = write_topology(
        TOPOLOGY.format(app="proj")
        + "env:\n  DJANGO_SETTINGS_MODULE: proj.settings\n  WORKERS: 4\n"
    )
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    for bad, message in [
        ("STACK_GROUP: w", "STACK_GROUP: STACK_* variables are set by the kit"),
        ("DEBUG: true", "DEBUG: expected a string, got True (quote it)"),
    ]:
        path = write_topology(TOPOLOGY.format(app="proj") + f"env:\n  {bad}\n")
        line = one_line(runner.invoke(app, ["validate", str(path)]))
        assert line.endswith(f"env: error: {message}"), line


def test_wheels_without_a_requirements_file_is_one_line(write_topology: Any) -> None:
    path = write_topology(TOPOLOGY.format(app="proj"))
    line = one_line(runner.invoke(app, ["wheels", str(path), "--out", str(path.parent / "w")]))
    assert line == (
        f"Error: {path}: no requirements file at {path.parent / 'requirements.txt'} "
        "(image.requirements): nothing to download"
    )


def test_wheels_needs_somewhere_to_put_them(
    write_topology: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_topology(TOPOLOGY.format(app="proj"))
    (path.parent / "requirements.txt").write_text("django>=4.2\n")
    monkeypatch.delenv("STACK_WHEELHOUSE", raising=False)
    line = one_line(runner.invoke(app, ["wheels", str(path)]))
    assert line.startswith("Error: where to? set STACK_WHEELHOUSE")


def test_wheels_without_docker_says_so_in_one_line(write_topology: Any, no_docker: None) -> None:
    path = write_topology(TOPOLOGY.format(app="proj"))
    (path.parent / "requirements.txt").write_text("django>=4.2\n")
    line = one_line(runner.invoke(app, ["wheels", str(path), "-o", str(path.parent / "w")]))
    assert line.startswith(
        "Error: stack wheels (it asks the image's Python what it is) needs Docker: "
        "cannot reach the Docker engine: "
    ), line
