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
from tests.helpers import COLORS, ROOT

CRD = ROOT / "tests" / "crds" / "monitoring.coreos.com_servicemonitors.yaml"
TOPOLOGY = load(COLORS / "topology-rabbitmq.yaml").topology


def schema() -> dict[str, Any]:
    crd = next(d for d in yaml.safe_load_all(CRD.read_text(encoding="utf-8")) if d)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return dict(version["schema"]["openAPIV3Schema"])


def unknown_fields(doc: Any, node: dict[str, Any], where: str = "") -> list[str]:
    """Fields the schema does not define: the API server's strict field validation rejects
    them (a structural schema prunes them otherwise, so jsonschema alone lets them by)."""
    if isinstance(doc, list):
        return [f for i, d in enumerate(doc) for f in unknown_fields(d, node.get("items", {}),
                                                                      f"{where}[{i}]")]  # fmt: skip
    if not isinstance(doc, dict) or node.get("x-kubernetes-preserve-unknown-fields"):
        return []
    known = node.get("properties")
    if known is None:  # a map (additionalProperties) or an opaque object
        extra = node.get("additionalProperties")
        return [f for k, v in doc.items() for f in unknown_fields(v, extra, f"{where}.{k}")] if (
            isinstance(extra, dict)
        ) else []  # fmt: skip
    found = [f"{where}.{k}" for k in doc if k not in known and where != ".metadata"]
    return found + [
        f for k, v in doc.items() if k in known for f in unknown_fields(v, known[k], f"{where}.{k}")
    ]


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
    jsonschema.validate(monitor, schema())
    assert unknown_fields(monitor, schema()) == []
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
    assert unknown_fields(typo, schema()) == [".spec.endpoints[0].intervall"]
    wrong = copy.deepcopy(monitor)
    wrong["spec"]["endpoints"][0]["interval"] = "thirty seconds"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema())
