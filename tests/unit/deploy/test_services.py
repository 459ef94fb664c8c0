"""The topology's env reaches every app container, in compose, on Docker and in the chart."""

from __future__ import annotations

from stack.deploy import services as plan
from stack.deploy.render.helm import values as chart_values
from stack.deploy.roles import APP_ROLES
from stack.topology.load import load_string

TEXT = """\
name: shop
app: djproj
env: {DJANGO_SETTINGS_MODULE: djproj.settings, WORKERS: 4}
queues: [q]
workers:
  w: {queues: [q]}
  v: {queues: [q], env: {DJANGO_SETTINGS_MODULE: djproj.other}}
beat:
  tick: {task: t, every: 5}
"""


def test_every_app_service_gets_the_env_and_a_groups_own_wins() -> None:
    topology = load_string(TEXT, "topology.yaml").topology
    services = plan.services(topology, plan.images(topology, env={}))
    apps = {s.name: s.environment for s in services if s.role in APP_ROLES}
    assert set(apps) == {"w", "v", "beat", "flower", "metrics"}
    assert {name: env["DJANGO_SETTINGS_MODULE"] for name, env in apps.items()} == {
        "w": "djproj.settings", "v": "djproj.other", "beat": "djproj.settings",
        "flower": "djproj.settings", "metrics": "djproj.settings",
    }  # fmt: skip
    assert apps["w"]["WORKERS"] == "4"
    assert apps["w"]["STACK_PROJECT"] == "shop"  # the kit's own are still there
    infra = [s for s in services if s.role not in APP_ROLES]
    assert all("DJANGO_SETTINGS_MODULE" not in s.environment for s in infra)


def test_the_chart_gives_every_app_pod_the_env() -> None:
    topology = load_string(TEXT, "topology.yaml").topology
    values = chart_values(topology, plan.images(topology, env={}))
    assert values["env"]["DJANGO_SETTINGS_MODULE"] == "djproj.settings"
    assert values["workers"]["v"]["env"]["DJANGO_SETTINGS_MODULE"] == "djproj.other"
