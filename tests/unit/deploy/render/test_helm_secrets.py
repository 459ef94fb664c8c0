"""The chart's passwords, and the escape hatches a cluster needs: URLs built in the pod from
the Secret's passwords, the user's own Secret in place of the generated one, the generated one
kept on uninstall, Flower kept off plain-HTTP services, envFrom/extraEnv/ServiceAccount/affinity
/spread on every app pod, beat's liveness probe."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from stack.container import health, paths
from stack.deploy import helm_engine
from stack.deploy.render import helm
from stack.errors import RuntimeStackError
from tests.unit.deploy.render.test_helm import (
    CHART,
    SCALED,
    TOPOLOGIES,
    container,
    of_kind,
    pod_env,
    topology,
    values_of,
)

APP = ("red", "green", "blue", "colorful", "beat", "flower", "metrics")
PASSWORD_KEYS = {"redis-password", "rabbitmq-user", "rabbitmq-password", "flower-password"}


def render(key: str, overrides: list[str]) -> list[dict[str, Any]]:
    values = helm.apply_overrides(values_of(key), overrides)
    texts = helm_engine.render(CHART, values, topology(key).name, "celery")
    return [d for text in texts.values() for d in yaml.safe_load_all(text) if d]


def app_pods(key: str, docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    prefix = f"{topology(key).name}-stack-"
    return {
        d["metadata"]["name"].removeprefix(prefix): d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"].removeprefix(prefix) in APP
    }


def secret_refs(node: Any) -> list[dict[str, str]]:
    """Every secretKeyRef and KEDA secretTargetRef below node."""
    found: list[dict[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "secretKeyRef":
                found.append(value)
            elif key == "secretTargetRef":
                found += value
            else:
                found += secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            found += secret_refs(value)
    return found


@pytest.mark.parametrize("key", sorted(TOPOLOGIES))
def test_app_pods_build_the_secrets_urls_from_its_passwords(key: str) -> None:
    docs = render(key, [])
    (secret,) = [d for d in docs if d["kind"] == "Secret"]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    pods = app_pods(key, docs)
    assert set(pods) >= {"red", "green", "blue", "colorful", "beat", "flower"}
    for name, pod in pods.items():
        env = pod_env(container({"spec": {"template": {"spec": pod}}}), secret)
        assert env["STACK_BROKER_URL"] == data["broker-url"], name
        assert env.get("STACK_RESULT_BACKEND") == data.get("result-backend"), name
        assert not [v for v in env.values() if "$(" in v], name
        # The URLs hold the password only once resolved: the manifest names it.
        raw = {e["name"]: e for e in container({"spec": {"template": {"spec": pod}}})["env"]}
        assert "$(" in raw["STACK_BROKER_URL"]["value"]


@pytest.mark.parametrize("key", sorted(TOPOLOGIES))
def test_an_existing_secret_replaces_the_generated_one(key: str) -> None:
    docs = render(key, ["secrets.existingSecret=app-passwords"])
    assert not [d for d in docs if d["kind"] == "Secret"]
    refs = secret_refs(docs)
    assert refs
    assert {r["name"] for r in refs} == {"app-passwords"}
    used = {r["key"] for r in refs}
    assert used <= PASSWORD_KEYS, used - PASSWORD_KEYS
    rabbit = topology(key).broker.type == "rabbitmq"
    assert ("rabbitmq-password" in used) == rabbit
    assert ("redis-password" in used) == (not rabbit or topology(key).backend.type == "redis")
    # The user's Secret holds passwords only; the pods still get whole URLs.
    mine = {"metadata": {"name": "app-passwords"}, "data": {
        k: base64.b64encode(f"{k}-x".encode()).decode() for k in PASSWORD_KEYS}}  # fmt: skip
    env = pod_env(container({"spec": {"template": {"spec": app_pods(key, docs)["red"]}}}), mine)
    expected = (
        "amqp://rabbitmq-user-x:rabbitmq-password-x@" if rabbit else "redis://:redis-password-x@"
    )
    assert env["STACK_BROKER_URL"].startswith(expected)
    for doc in docs:
        if doc["apiVersion"] != "keda.sh/v1alpha1" and doc["kind"] != "ServiceMonitor":
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_generated_secret_survives_an_uninstall_unless_told() -> None:
    (kept,) = [d for d in render("colors", []) if d["kind"] == "Secret"]
    assert kept["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    (dropped,) = [d for d in render("colors", ["secrets.keep=false"]) if d["kind"] == "Secret"]
    assert "annotations" not in dropped["metadata"]


@pytest.mark.parametrize("kind", ["NodePort", "LoadBalancer"])
def test_flower_on_a_network_facing_service_needs_plain_http_allowed(kind: str) -> None:
    with pytest.raises(RuntimeStackError, match=rf"flower.service.type {kind} .*plain HTTP"):
        render("colors", [f"flower.service.type={kind}"])
    docs = render("colors", [f"flower.service.type={kind}", "flower.service.allowPlainHttp=true"])
    (service,) = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith(
        "-flower")]  # fmt: skip
    assert service["spec"]["type"] == kind


def test_escape_hatches_reach_every_app_pod_and_no_server() -> None:
    spread = {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
              "whenUnsatisfiable": "ScheduleAnyway"}  # fmt: skip
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["celery"]}]}]}}}  # fmt: skip
    values = helm.apply_overrides(values_of("colors"), [
        "serviceAccountName=celery-app", "automountServiceAccountToken=true"])  # fmt: skip
    values["extraEnv"] = [{"name": "APP_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": "app-secrets", "key": "token"}}}]  # fmt: skip
    values["envFrom"] = [{"secretRef": {"name": "app-env"}}]
    values["affinity"] = affinity
    values["topologySpreadConstraints"] = [spread]
    texts = helm_engine.render(CHART, values, "colors", "celery")
    docs = [d for text in texts.values() for d in yaml.safe_load_all(text) if d]
    pods = app_pods("colors", docs)
    assert set(pods) >= {"red", "beat", "flower"}
    for name, pod in pods.items():
        (box,) = pod["containers"]
        assert {"name": "APP_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": "app-secrets", "key": "token"}}} in box["env"], name  # fmt: skip
        assert box["envFrom"] == [{"secretRef": {"name": "app-env"}}], name
        assert pod["serviceAccountName"] == "celery-app"
        assert pod["automountServiceAccountToken"] is True
        assert pod["affinity"] == affinity
        (constraint,) = pod["topologySpreadConstraints"]
        # Without a labelSelector of its own, a constraint spreads its component's pods.
        labels = constraint.pop("labelSelector")["matchLabels"]
        assert constraint == spread
        group = name if name in ("red", "green", "blue", "colorful") else None
        assert labels.get("stack/group") == group, name
    for server in [d for d in docs if d["kind"] == "StatefulSet"]:
        spec = server["spec"]["template"]["spec"]
        assert "serviceAccountName" not in spec
        assert spec["automountServiceAccountToken"] is False
        assert "envFrom" not in spec["containers"][0]
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_beat_is_live_while_its_state_file_is_fresh(tmp_path: Path) -> None:
    docs = render("colors", ["beat.terminationGracePeriodSeconds=90"])
    beat = app_pods("colors", docs)["beat"]
    assert beat["terminationGracePeriodSeconds"] == 90
    command = beat["containers"][0]["livenessProbe"]["exec"]["command"]
    assert command == ["sh", "-c", health.BEAT_ALIVE_PROBE]
    # The probe itself, on a state dir of our own: fresh passes, stale or missing fails.
    probe = health.BEAT_ALIVE_PROBE.replace(paths.STATE_DIR, str(tmp_path))
    state = tmp_path / health.BEAT_STATE

    def passes() -> bool:
        return subprocess.run(["sh", "-c", probe], capture_output=True, check=False).returncode == 0

    assert not passes()
    state.write_text("{}", encoding="utf-8")
    assert passes()
    old = time.time() - health.BEAT_STALE - 5
    os.utime(state, (old, old))
    assert not passes()


@pytest.mark.parametrize("key", SCALED)
def test_keda_counts_rabbitmq_messages_with_unacked_through_the_management_api(key: str) -> None:
    docs = render(key, [])
    (auth,) = [d for d in docs if d["kind"] == "TriggerAuthentication"]
    params = {r["parameter"]: r["key"] for r in auth["spec"]["secretTargetRef"]}
    triggers = [t for d in docs if d["kind"] == "ScaledObject" for t in d["spec"]["triggers"]]
    if topology(key).broker.type == "redis":
        assert params == {"password": "redis-password"}
        return
    assert params == {"username": "rabbitmq-user", "password": "rabbitmq-password"}
    for trigger in triggers:
        assert trigger["metadata"]["protocol"] == "http"
        assert trigger["metadata"]["host"].startswith("http://")
        assert trigger["metadata"]["host"].endswith(".celery.svc:15672/")
        assert "@" not in trigger["metadata"]["host"]
    (secret,) = of_kind(key, "Secret").values()
    assert {"rabbitmq-user", "rabbitmq-password"} <= set(secret["data"])
