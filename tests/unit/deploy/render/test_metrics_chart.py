"""The chart's exporter, and its ServiceMonitor checked against prometheus-operator's own CRD."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from stack.deploy import helm_engine
from stack.deploy import services as plan
from stack.deploy.render import helm
from stack.topology.load import load
from tests.helpers import COLORS, crd_schema, unknown_fields

TOPOLOGY = load(COLORS / "topology-rabbitmq.yaml").topology


def render(**metrics: Any) -> list[dict[str, Any]]:
    values = helm.values(TOPOLOGY, plan.images(TOPOLOGY, env={}))
    values["metrics"].update(metrics)
    texts = helm_engine.render(helm.chart_dir(), values, TOPOLOGY.name, "celery")
    return [d for text in texts.values() for d in yaml.safe_load_all(text) if d]


def test_the_exporter_runs_with_its_service_and_no_service_monitor_by_default() -> None:
    docs = render()
    metrics = [d for d in docs if d["metadata"]["name"].endswith("-metrics")]
    assert sorted(d["kind"] for d in metrics) == ["Deployment", "Service"]
    deployment = next(d for d in metrics if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "stack.container.exporter"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    for doc in metrics:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_service_monitor_fits_prometheus_operators_crd_and_selects_the_service() -> None:
    docs = render(serviceMonitor={"enabled": True, "interval": "15s", "scrapeTimeout": "10s",
                                  "labels": {"release": "prometheus"}})  # fmt: skip
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    jsonschema.validate(monitor, crd_schema("monitoring.coreos.com_servicemonitors.yaml"))
    assert unknown_fields(monitor, crd_schema("monitoring.coreos.com_servicemonitors.yaml")) == []
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    service = next(
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("-metrics")
    )
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [
        p["name"] for p in service["spec"]["ports"]
    ]


def test_the_crd_check_rejects_what_a_cluster_would() -> None:
    monitor = next(
        d for d in render(serviceMonitor={"enabled": True}) if d["kind"] == "ServiceMonitor"
    )
    typo = copy.deepcopy(monitor)
    typo["spec"]["endpoints"][0]["intervall"] = "30s"
    assert unknown_fields(typo, crd_schema("monitoring.coreos.com_servicemonitors.yaml")) == [
        ".spec.endpoints[0].intervall"
    ]
    wrong = copy.deepcopy(monitor)
    wrong["spec"]["endpoints"][0]["interval"] = "thirty seconds"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, crd_schema("monitoring.coreos.com_servicemonitors.yaml"))
