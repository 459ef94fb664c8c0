"""The Helm chart, rendered by Helm's real engine: golden, lint-clean, schema-valid, and right
where it matters (queues, beat, secrets, autoscaling, shutdown, security)."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from stack.container import paths
from stack.deploy import helm_engine
from stack.deploy import services as plan
from stack.deploy.render import helm
from stack.deploy.render.helm_values import default_values, values_schema
from stack.deploy.resources import data_path
from stack.errors import RuntimeStackError, StackError
from stack.topology import yamlio
from stack.topology.load import load_string
from stack.topology.model import Topology
from tests.helpers import COLORS, ROOT, crd_schema, project_copy, unknown_fields

GOLDEN = ROOT / "tests" / "golden" / "helm"
UPDATE = os.environ.get("STACK_UPDATE_GOLDEN") == "1"
CHART = helm.chart_dir()
# CRDs kubernetes-validate does not know: checked against KEDA's own (tests/crds/).
KEDA_KINDS = {
    "ScaledObject": "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
}
K8S_VERSIONS = ("1.30", kubernetes_validate.latest_version())


def _scaled(source: Path, name: str) -> str:
    """A variant of a demo: limits, replicas, resources, a solo pool, KEDA on two groups."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["name"] = name
    data["workers"]["red"].update(
        time_limit=300, soft_time_limit=240, replicas=3,
        resources={"cpu": "250m", "memory": "256Mi"},
    )  # fmt: skip
    data["workers"]["green"].update(pool="solo")
    data["workers"]["blue"]["autoscale"] = {"min_replicas": 0, "max_replicas": 5}
    data["workers"]["colorful"]["autoscale"] = {"max_replicas": 4, "queue_length": 50}
    return yamlio.dump(data)


TOPOLOGIES = {
    "colors": (COLORS / "topology.yaml").read_text(encoding="utf-8"),
    "colors-rabbitmq": (COLORS / "topology-rabbitmq.yaml").read_text(encoding="utf-8"),
    "colors-scaled": _scaled(COLORS / "topology.yaml", "colors-scaled"),
    "colors-rabbitmq-scaled": _scaled(COLORS / "topology-rabbitmq.yaml", "colors-rmq-scaled"),
}
SCALED = ("colors-scaled", "colors-rabbitmq-scaled")


@cache
def topology(key: str) -> Topology:
    return load_string(TOPOLOGIES[key], f"{key}.yaml").topology


@cache
def values_of(key: str) -> dict[str, Any]:
    return helm.values(topology(key), plan.images(topology(key), env={}))


@cache
def rendered(key: str) -> dict[str, str]:
    return helm_engine.render(CHART, values_of(key), topology(key).name, "celery")


@cache
def documents(key: str) -> list[dict[str, Any]]:
    return [doc for text in rendered(key).values() for doc in yaml.safe_load_all(text) if doc]


def of_kind(key: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents(key) if d["kind"] == kind}


def deployment(key: str, component: str) -> dict[str, Any]:
    return of_kind(key, "Deployment")[f"{topology(key).name}-stack-{component}"]


def container(doc: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def secret_values(key: str) -> list[str]:
    """The Secret's confidential values (the RabbitMQ user name is not one)."""
    (secret,) = of_kind(key, "Secret").values()
    return [base64.b64decode(v).decode() for k, v in secret["data"].items() if k != "rabbitmq-user"]


def pod_env(spec: dict[str, Any], secret: dict[str, Any]) -> dict[str, str]:
    """A container's environment as the kubelet makes it: secretKeyRef values from secret,
    then $(NAME) replaced by the value of a NAME defined before it (left as is otherwise)."""
    out: dict[str, str] = {}
    for entry in spec["env"]:
        if "valueFrom" in entry:
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"], ref
            out[entry["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        else:
            out[entry["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: out.get(m.group(1), m.group(0)),
                entry["value"],
            )
    return out


def redact(text: str) -> str:
    """Generated passwords differ on every offline render."""
    return re.sub(r'^(  [a-z-]+): "[A-Za-z0-9+/=]+"$', r'\1: "<generated>"', text, flags=re.M)


def test_values_schema_file_matches_the_generated_schema() -> None:
    path = CHART / "values.schema.json"
    text = json.dumps(values_schema(), indent=2) + "\n"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == values_schema(), (
        "values.schema.json is stale; rerun with STACK_UPDATE_GOLDEN=1"
    )


def test_chart_values_yaml_holds_the_model_defaults() -> None:
    assert yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8")) == default_values()


@pytest.mark.parametrize("key", ["colors", "colors-rabbitmq", "colors-scaled"])
def test_manifests_and_values_match_the_golden_files(key: str) -> None:
    manifest = "".join(f"# Source: {p}\n{redact(t).strip()}\n" for p, t in rendered(key).items())
    values_text = yamlio.dump(values_of(key))
    for name, text in (("manifest.yaml", manifest), ("values.yaml", values_text)):
        golden = GOLDEN / key / name
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
        assert text == golden.read_text(encoding="utf-8"), (
            f"rendered {name} changed; review and rerun with STACK_UPDATE_GOLDEN=1"
        )


@pytest.mark.parametrize("key", sorted(TOPOLOGIES))
def test_lint_strict_is_clean(key: str) -> None:
    findings = helm_engine.lint(CHART, values_of(key), namespace="celery")
    assert [f for f in findings if f.severity != "info"] == []


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("key", sorted(TOPOLOGIES))
def test_documents_validate_against_kubernetes(key: str, version: str) -> None:
    kinds = []
    for doc in documents(key):
        kinds.append(doc["kind"])
        if doc["kind"] in KEDA_KINDS:
            assert doc["apiVersion"] == "keda.sh/v1alpha1"
            schema = crd_schema(KEDA_KINDS[doc["kind"]], "v1alpha1")
            jsonschema.validate(doc, schema)
            assert unknown_fields(doc, schema) == [], doc["metadata"]["name"]
            continue
        kubernetes_validate.validate(doc, version, strict=True)
    assert {"ConfigMap", "Secret", "Deployment", "StatefulSet", "Service"} <= set(kinds)


def test_autoscaling_sums_every_queue_and_redis_priority_list_of_a_group() -> None:
    """KEDA's HPA takes the largest trigger: the formula makes it the sum of all."""
    scaled = {d["metadata"]["name"]: d for d in documents("colors-scaled")
              if d["kind"] == "ScaledObject"}  # fmt: skip
    colorful = next(d for n, d in scaled.items() if n.endswith("-colorful"))
    triggers = colorful["spec"]["triggers"]
    lists = [t["metadata"]["listName"] for t in triggers]
    assert lists[:4] == ["red_queue", "red_queue\x06\x163", "red_queue\x06\x166",
                         "red_queue\x06\x169"]  # fmt: skip
    assert len(triggers) == 3 * 4  # three queues, four lists each
    modifier = colorful["spec"]["advanced"]["scalingModifiers"]
    assert modifier["formula"] == " + ".join(t["name"] for t in triggers)
    assert (modifier["target"], modifier["metricType"]) == ("50", "AverageValue")
    rabbit = next(
        d for n, d in of_kind("colors-rabbitmq-scaled", "ScaledObject").items()
        if n.endswith("-colorful")
    )  # fmt: skip
    assert [t["metadata"]["queueName"] for t in rabbit["spec"]["triggers"]] == [
        "red_queue",
        "green_queue",
        "blue_queue",
    ]


def test_kubernetes_validation_can_fail() -> None:
    doc = json.loads(json.dumps(deployment("colors", "red")))
    doc["spec"]["template"]["spec"]["containers"][0]["comand"] = ["typo"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSIONS[0], strict=True)


def queues_arg(args: list[str]) -> list[str]:
    return args[args.index("-Q") + 1].split(",")


@pytest.mark.parametrize("key", sorted(TOPOLOGIES))
def test_each_group_consumes_exactly_its_queues(key: str) -> None:
    topo = topology(key)
    workers = {
        d["metadata"]["labels"]["stack/group"]: d
        for d in of_kind(key, "Deployment").values()
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
    }
    assert sorted(workers) == sorted(topo.workers)
    for name, group in topo.workers.items():
        args = container(workers[name])["command"]
        assert queues_arg(args) == group.queues
        assert args == list(plan.worker_command(name, group, topo))
        assert f"{name}@%h" in args  # the node name follows the pod name


@pytest.mark.parametrize("key", ["colors", "colors-rabbitmq"])
def test_beat_is_a_single_recreated_replica_with_its_schedule_on_a_volume(key: str) -> None:
    beat = deployment(key, "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    volumes = {v["name"]: v for v in beat["spec"]["template"]["spec"]["volumes"]}
    assert "persistentVolumeClaim" in volumes["schedule"]
    mounts = {m["name"]: m["mountPath"] for m in container(beat)["volumeMounts"]}
    assert mounts["schedule"] == paths.BEAT_DIR


@pytest.mark.parametrize("key", ["colors", "colors-rabbitmq"])
def test_flower_auth_comes_from_the_secret(key: str) -> None:
    (secret,) = of_kind(key, "Secret").values()
    env = pod_env(container(deployment(key, "flower")), secret)
    user, _, password = env["FLOWER_BASIC_AUTH"].partition(":")
    assert user == topology(key).monitor.user
    assert password == base64.b64decode(secret["data"]["flower-password"]).decode()
    assert len(password) >= 20


@pytest.mark.parametrize("key", sorted(TOPOLOGIES))
def test_no_secret_value_leaks_outside_the_secret(key: str) -> None:
    secrets = secret_values(key)
    assert secrets
    assert all(len(s) >= 20 for s in secrets)
    others = [yamlio.dump(d) for d in documents(key) if d["kind"] != "Secret"]
    assert any("topology.yaml" in text for text in others)  # the ConfigMap is checked
    for text in [*others, yamlio.dump(values_of(key))]:
        for value in secrets:
            assert value not in text


@pytest.mark.parametrize("key", SCALED)
def test_scaled_objects_watch_the_groups_queues(key: str) -> None:
    topo = topology(key)
    scaled = of_kind(key, "ScaledObject")
    auto = {n: g for n, g in topo.workers.items() if g.autoscale}
    assert sorted(scaled) == sorted(f"{topo.name}-stack-{n}" for n in auto)
    (auth,) = of_kind(key, "TriggerAuthentication")
    broker = topo.broker.type
    for name, group in auto.items():
        assert group.autoscale is not None
        spec = scaled[f"{topo.name}-stack-{name}"]["spec"]
        assert spec["scaleTargetRef"]["name"] == deployment(key, name)["metadata"]["name"]
        assert "replicas" not in deployment(key, name)["spec"]  # KEDA owns the count
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (
            group.autoscale.min_replicas, group.autoscale.max_replicas,
        )  # fmt: skip
        assert {t["type"] for t in spec["triggers"]} == {broker}
        field = "listName" if broker == "redis" else "queueName"
        # Redis: kombu's priority lists too (steps 3, 6, 9: "QUEUE\x06\x16N").
        steps = ("", "\x06\x163", "\x06\x166", "\x06\x169") if broker == "redis" else ("",)
        expected = [f"{queue}{step}" for queue in group.queues for step in steps]
        assert [t["metadata"][field] for t in spec["triggers"]] == expected
        assert all(t["authenticationRef"]["name"] == auth for t in spec["triggers"])
    refs = of_kind(key, "TriggerAuthentication")[auth]["spec"]["secretTargetRef"]
    assert {r["name"] for r in refs} == {n for n in of_kind(key, "Secret")}


@pytest.mark.parametrize("key", SCALED)
def test_disruption_budgets_only_for_scaled_and_replicated_groups(key: str) -> None:
    name = topology(key).name
    assert sorted(of_kind(key, "PodDisruptionBudget")) == sorted(
        f"{name}-stack-{g}" for g in ("red", "blue", "colorful")
    )
    assert of_kind("colors", "PodDisruptionBudget") == {}


def test_grace_period_resources_and_probes_follow_the_group() -> None:
    spec = deployment("colors-scaled", "red")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 300 + 15  # time_limit + margin
    spec = deployment("colors", "red")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 60  # no time limit: the default
    red = container(deployment("colors-scaled", "red"))
    assert red["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "256Mi"},
    }  # fmt: skip
    assert "livenessProbe" in red
    assert "livenessProbe" not in container(deployment("colors-scaled", "green"))


@pytest.mark.parametrize("key", ["colors", "colors-rabbitmq"])
def test_pods_run_unprivileged(key: str) -> None:
    workloads = [*of_kind(key, "Deployment").values(), *of_kind(key, "StatefulSet").values()]
    for doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        ctx = container(doc)["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        if doc["kind"] == "Deployment":  # the app image
            assert pod["securityContext"]["runAsUser"] == paths.UID
            assert ctx["readOnlyRootFilesystem"] is True
            probes = container(doc)["readinessProbe"]
            assert "celery" not in json.dumps(probes)  # cheap probes, no `inspect ping`


def test_app_pods_follow_the_container_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart takes the image's layout from the values render/helm_values.py writes from
    stack.container.paths: change the module and the pods follow."""
    layout = {"UID": 4242, "GID": 4343, "TOPOLOGY": "/t/etc/topo.yaml",
              "BEAT_DIR": "/t/beat", "TMP_DIR": "/t/tmp"}  # fmt: skip
    for name, value in layout.items():
        monkeypatch.setattr(paths, name, value)
    topo = topology("colors")
    values = helm.values(topo, plan.images(topo, env={}))
    assert values["container"] == {
        "uid": 4242, "gid": 4343, "topologyPath": "/t/etc/topo.yaml", "beatDir": "/t/beat",
        "tmpDir": "/t/tmp",
    }  # fmt: skip
    docs = [d for t in helm_engine.render(CHART, values, topo.name, "celery").values()
            for d in yaml.safe_load_all(t) if d]  # fmt: skip
    apps = {d["metadata"]["name"].rpartition("-")[2]: d for d in docs if d["kind"] == "Deployment"}
    assert set(apps) == {*topo.workers, "beat", "flower", "metrics"}
    for doc in apps.values():
        pod = doc["spec"]["template"]["spec"]
        assert {k: pod["securityContext"][k] for k in ("runAsUser", "runAsGroup", "fsGroup")} == {
            "runAsUser": 4242, "runAsGroup": 4343, "fsGroup": 4343,
        }  # fmt: skip
        mounts = {m["name"]: m["mountPath"] for m in container(doc)["volumeMounts"]}
        assert (mounts["topology"], mounts["tmp"]) == ("/t/etc", "/t/tmp")
        (config,) = [v for v in pod["volumes"] if v["name"] == "topology"]
        assert config["configMap"]["items"] == [{"key": "topology.yaml", "path": "topo.yaml"}]
    assert {m["name"]: m["mountPath"] for m in container(apps["beat"])["volumeMounts"]}[
        "schedule"
    ] == "/t/beat"
    assert "/t/beat/schedule" in container(apps["beat"])["command"]


@pytest.mark.parametrize("key", sorted(TOPOLOGIES))
def test_topology_text_round_trips(key: str) -> None:
    text = values_of(key)["topology"]
    assert load_string(text, "configmap.yaml").topology == topology(key)


def test_external_broker_url_stays_out_of_the_values_and_comes_from_an_existing_secret() -> None:
    source = (
        TOPOLOGIES["colors"]
        .replace("broker: redis", "broker: amqp://celery:hunter2secret@mq.example:5672//")
        .replace("backend: redis", "backend: none")
    )
    topo = load_string(source, "url.yaml").topology
    values = helm.values(topo, plan.images(topo, env={}))
    assert "hunter2secret" not in yamlio.dump(values)
    assert load_string(values["topology"], "cm.yaml").topology.broker.url == "${STACK_BROKER_URL}"
    with pytest.raises(RuntimeStackError, match=r"broker\.existingSecret"):
        helm_engine.render(CHART, values, "url", "celery")
    values = helm.apply_overrides(values, ["broker.existingSecret=mq-credentials"])
    docs = [d for t in helm_engine.render(CHART, values, "url", "celery").values()
            for d in yaml.safe_load_all(t) if d]  # fmt: skip
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    red = next(d for d in docs if d["metadata"]["name"] == "url-stack-red")
    env = {e["name"]: e for e in container(red)["env"]}
    assert env["STACK_BROKER_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "mq-credentials", "key": "url",
    }  # fmt: skip
    assert "STACK_RESULT_BACKEND" not in env


def test_bad_override_fails_with_the_schema_message() -> None:
    values = helm.apply_overrides(values_of("colors"), ["workers.red.replicas=many"])
    with pytest.raises(RuntimeStackError) as info:
        helm_engine.render(CHART, values, "colors", "celery")
    message = str(info.value)
    assert "/workers/red/replicas" in message
    assert "want integer" in message
    assert "\n" not in message


def test_impossible_values_are_reported_together() -> None:
    values = helm.apply_overrides(
        values_of("colors"),
        ["image.repository=", "backend.type=url", "workers.red.queues=[blue_queue]"],
    )
    with pytest.raises(RuntimeStackError) as info:
        helm_engine.render(CHART, values, "colors", "celery")
    message = str(info.value)
    for part in ("image.repository", "backend.existingSecret", "workers.red: args"):
        assert part in message
    assert "\n" not in message


def test_apply_overrides_sets_dotted_keys_on_a_copy_and_refuses_bad_paths() -> None:
    base: dict[str, Any] = {"workers": {"red": {"replicas": 1}}, "image": {"tag": "v1"}}
    out = helm.apply_overrides(
        base, ["workers.red.replicas=3", "image.tag=v2", "flower.enabled=false", "x.y=a b"]
    )
    assert out == {
        "workers": {"red": {"replicas": 3}}, "image": {"tag": "v2"},
        "flower": {"enabled": False}, "x": {"y": "a b"},
    }  # fmt: skip
    assert base["workers"]["red"]["replicas"] == 1  # the input is untouched
    with pytest.raises(StackError, match=r"key\.path=value"):
        helm.apply_overrides(base, ["replicas"])
    with pytest.raises(StackError, match="not a mapping"):
        helm.apply_overrides(base, ["image.tag.x=1"])


def test_write_chart_writes_a_standalone_chart_and_data_path_refuses_a_missing_one(
    tmp_path: Path,
) -> None:
    topo = topology("colors")
    imgs = plan.images(topo, env={})
    target = helm.write_chart(topo, imgs, tmp_path)
    assert target == tmp_path / "helm" / "stack"
    assert (target / "templates" / "workers.yaml").is_file()
    assert yaml.safe_load((target / "values.yaml").read_text()) == helm.values(topo, imgs)
    assert helm_engine.lint(target, {}) == []  # the written chart stands on its own
    assert data_path("helm", "stack") == CHART
    with pytest.raises(StackError, match="not found"):
        data_path("helm", "no-such-chart")


def test_missing_helm_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "helm_python", None)
    with pytest.raises(StackError, match=r"pip install 'stack-celery\[helm\]'"):
        helm_engine.render(CHART, {}, "x", "default")


def test_cli_dry_run_prints_the_manifests(tmp_path: Path) -> None:
    from stack.cli.main import app

    result = CliRunner().invoke(
        app, ["deploy", str(COLORS / "topology.yaml"), "--dry-run", "-n", "jobs",
              "--release", "demo", "--set", "workers.red.replicas=2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    red = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "demo-stack-red"
    )
    assert red["spec"]["replicas"] == 2
    assert {d["kind"] for d in docs} >= {"StatefulSet", "Deployment", "Secret", "ConfigMap"}


def test_cli_bad_value_is_one_line_and_exit_1() -> None:
    from stack.cli.main import app

    result = CliRunner().invoke(
        app, ["deploy", str(COLORS / "topology.yaml"), "--dry-run",
              "--set", "workers.red.replicas=many"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert not isinstance(result.exception, RuntimeStackError)  # handled, not a traceback
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error:")
    assert "/workers/red/replicas" in lines[0]


@pytest.mark.parametrize("key", list(TOPOLOGIES))
def test_pods_boot_from_the_image_snapshot(key: str, tmp_path: Path) -> None:
    """The image's snapshot, taken from the topology file, also fits the file the chart's
    ConfigMap mounts in pods, and gives the settings a full load of that file gives."""
    from stack.settings import snapshot
    from stack.settings.celeryconf import settings
    from stack.topology.load import load

    source = tmp_path / "topology.yaml"
    source.write_text(TOPOLOGIES[key], encoding="utf-8")
    taken = tmp_path / "topology.snapshot"
    snapshot.write(source, taken)
    (configmap,) = of_kind(key, "ConfigMap").values()
    mounted = tmp_path / "mounted" / "topology.yaml"
    mounted.parent.mkdir()
    mounted.write_text(configmap["data"]["topology.yaml"], encoding="utf-8")
    snap = snapshot.read(mounted, taken)
    assert snap is not None
    loaded = load(mounted).topology
    for group in [None, *loaded.workers]:
        url = "redis://:pw@redis:6379/0"
        assert snap.settings(url, None, group) == settings(loaded, url, None, group)
    mounted.write_text(configmap["data"]["topology.yaml"] + "# edited\n", encoding="utf-8")
    assert snapshot.read(mounted, taken) is None


def pod_annotations(text: str, values: dict[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """Deployment name -> its pod template's annotations, for topology text (or values)."""
    loaded = load_string(text, "topology.yaml").topology
    chart_values = values or helm.values(loaded, plan.images(loaded, env={}))
    docs = [
        doc
        for manifest in helm_engine.render(CHART, chart_values, loaded.name, "celery").values()
        for doc in yaml.safe_load_all(manifest)
        if doc and doc["kind"] == "Deployment"
    ]
    return {
        d["metadata"]["name"].rpartition("-")[2]: d["spec"]["template"]["metadata"].get(
            "annotations", {}
        )
        for d in docs
    }


def rolled(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


APP_COMPONENTS = {"red", "green", "blue", "colorful", "beat", "flower", "metrics"}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("green:    {queues: [green_queue]}", "green:    {queues: [green_queue], "
         "time_limit: 60}", {"green"}),
        ("every: 2}", "every: 5}", {"beat"}),
        ("tasks.multiply: blue_queue", "tasks.multiply: red_queue", APP_COMPONENTS),
    ],
)  # fmt: skip
def test_a_topology_change_rolls_the_pods_whose_settings_it_changes(
    old: str, new: str, expected: set[str]
) -> None:
    text = TOPOLOGIES["colors"]
    assert old in text
    before = pod_annotations(text)
    assert all("checksum/settings" in before[name] for name in APP_COMPONENTS), before
    assert rolled(before, pod_annotations(text.replace(old, new, 1))) == expected


def test_a_topology_edited_in_the_values_rolls_every_app_pod() -> None:
    """The per-component checksums hold only for the topology the kit rendered."""
    values = dict(values_of("colors"))
    values["podAnnotations"] = {"team": "payments"}
    before = pod_annotations(TOPOLOGIES["colors"], values)
    assert all(before[name]["team"] == "payments" for name in APP_COMPONENTS)
    values["topology"] = values["topology"].replace("every: 2", "every: 5")
    assert values["topology"] != values_of("colors")["topology"]
    after = pod_annotations(TOPOLOGIES["colors"], values)
    assert rolled(before, after) == APP_COMPONENTS
    assert all("checksum/topology" in after[name] for name in APP_COMPONENTS), after
    assert all(after[name]["team"] == "payments" for name in APP_COMPONENTS)


def test_this_machines_image_overrides_stay_out_of_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # STACK_*_IMAGE name copies on this machine (offline images); a cluster cannot pull them.
    from stack.cli.main import app
    from stack.deploy.render.write import write_all
    from stack.topology.load import load

    for name in ("PYTHON", "REDIS", "RABBITMQ"):
        monkeypatch.setenv(f"STACK_{name}_IMAGE", f"only-here/{name.lower()}:1")
    result = CliRunner().invoke(app, ["deploy", str(COLORS / "topology.yaml"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "only-here/" not in result.stdout
    assert "image: redis:7-alpine" in result.stdout
    out = tmp_path / "out"
    write_all(load(project_copy(tmp_path / "proj", "topology.yaml", "imgs")), out, None)
    assert "only-here/" not in (out / "helm" / "stack" / "values.yaml").read_text()
    assert "only-here/redis:1" in (out / "compose.yaml").read_text()  # this machine's run


@pytest.mark.parametrize("key", sorted(TOPOLOGIES))
def test_only_the_releases_pods_and_keda_reach_the_broker_and_backend(key: str) -> None:
    policies = of_kind(key, "NetworkPolicy")
    servers = {d["metadata"]["name"]: d for d in documents(key) if d["kind"] == "StatefulSet"}
    assert sorted(policies) == sorted(servers)
    apps = [d for d in documents(key) if d["kind"] == "Deployment"]
    for name, policy in policies.items():
        pods = servers[name]["spec"]["template"]["metadata"]["labels"]
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= pods.items()
        [rule] = policy["spec"]["ingress"]
        peers = rule["from"]
        allowed = peers[0]["podSelector"]["matchLabels"]
        for app in apps:  # every worker, beat, Flower and exporter pod is let in
            assert allowed.items() <= app["spec"]["template"]["metadata"]["labels"].items()
        keda = [p for p in peers if "namespaceSelector" in p]
        assert bool(keda) == (key in SCALED), peers
        ports = [p["port"] for p in rule["ports"]]
        port = int(servers[name]["spec"]["template"]["spec"]["containers"][0]["ports"][0][
            "containerPort"])  # fmt: skip
        assert ports[0] == port
        assert (15672 in ports) == name.endswith("rabbitmq")
    values = dict(values_of("colors"))
    values["networkPolicy"] = {"enabled": False}
    texts = helm_engine.render(CHART, values, "colors", "celery")
    assert not [d for t in texts.values() for d in yaml.safe_load_all(t)
                if d and d["kind"] == "NetworkPolicy"]  # fmt: skip
