"""Topology -> the Helm chart's values (pure), and the small step that writes the chart out.

The chart (helm/stack) holds the Kubernetes shape; everything topology-specific reaches it
through values: every command comes from stack.deploy.services, so compose and Kubernetes run
the same containers.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stack.deploy import services as plan
from stack.deploy.render.helm_values import (
    ChartValues,
    RabbitMQ,
    Redis,
    Resources,
    Worker,
    dump,
    infra,
    values_schema,
)
from stack.deploy.resources import data_path
from stack.deploy.revision import app_revisions
from stack.deploy.roles import Role
from stack.errors import StackError
from stack.topology import yamlio
from stack.topology.model import Resources as TopologyResources
from stack.topology.model import Topology
from stack.topology.text import topology_text

CHART_NAME = "stack"
__all__ = ["CHART_NAME", "apply_overrides", "values", "values_schema"]


def split_image(ref: str) -> tuple[str, str]:
    """'repo/name:tag' -> ('repo/name', 'tag'); a digest or untagged ref keeps tag ''."""
    if "@" in ref:
        return ref, ""
    name, sep, tag = ref.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return ref, ""


def _resources(spec: TopologyResources) -> Resources:
    """cpu is a request; memory is a request and a limit (no CPU limit: no throttling)."""
    return Resources.model_validate(
        {
            "requests": {"cpu": spec.cpu, "memory": spec.memory},
            "limits": {"memory": spec.memory},
        }
    )


def values(topology: Topology, imgs: plan.ImageSet) -> dict[str, Any]:
    """The chart's values for topology (camelCase, as written to values.yaml)."""
    services = plan.services(topology, imgs)
    by_name = {service.name: service for service in services}
    # Beat and Flower are one service each; workers are many and go by group below.
    beat = next((s for s in services if s.role == Role.BEAT), None)
    flower = next((s for s in services if s.role == Role.MONITOR), None)
    metrics = next((s for s in services if s.role == Role.METRICS), None)
    # The image is the pod spec's; what each app pod takes from the ConfigMap is this.
    checksums = app_revisions("", topology, services)
    text = topology_text(topology)
    repository, tag = split_image(imgs.app)
    workers = {}
    for name, group in topology.workers.items():
        auto = group.autoscale
        workers[name] = Worker.model_validate(
            {
                "queues": list(group.queues),
                "args": list(plan.worker_command(name, group, topology)),
                "replicas": group.replicas,
                "termination_grace_period_seconds": group.effective_grace_period,
                "env": {"STACK_GROUP": name, **group.env},
                "liveness_probe": group.effective_pool != "solo",
                "resources": _resources(group.resources),
                "settings_checksum": checksums[name],
                "autoscale": {"enabled": False}
                if auto is None
                else {
                    "enabled": True,
                    "min_replicas": auto.min_replicas,
                    "max_replicas": auto.max_replicas,
                    "queue_length": auto.queue_length,
                },
            }
        )
    chart = ChartValues.model_validate(
        {
            "project": topology.name,
            "topology": text,
            "topology_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "image": {"repository": repository, "tag": tag},
            "env": plan.app_environment(topology),
            "broker": {"type": topology.broker.type},
            "backend": {"type": topology.backend.type},
            "workers": workers,
            "beat": {
                "enabled": beat is not None,
                "args": _args(beat),
                "settings_checksum": checksums[beat.name] if beat else "",
            },
            "flower": {
                "enabled": flower is not None,
                "user": topology.monitor.user,
                "args": _args(flower),
                "settings_checksum": checksums[flower.name] if flower else "",
            },
            "metrics": {
                "enabled": metrics is not None,
                "args": _args(metrics),
                "settings_checksum": checksums[metrics.name] if metrics else "",
            },
        }
    )
    if "redis" in by_name:
        chart.redis = Redis.model_validate(infra(by_name["redis"]))
    if "rabbitmq" in by_name:
        chart.rabbitmq = RabbitMQ.model_validate(infra(by_name["rabbitmq"]))
    return dump(chart)


def _args(service: plan.Service | None) -> list[str]:
    return [] if service is None else list(service.command)


def apply_overrides(base: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Helm-style `--set a.b.c=value` overrides on a copy of base; values are YAML scalars."""
    result = _copy(base)
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.split(".")
        if not sep or not all(parts):
            raise StackError(f"--set expects key.path=value, got {item!r}")
        value = yamlio.load_text(raw, f"--set {key}").data if raw else ""
        node = result
        for index, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: index + 1])
                raise StackError(f"--set {key}: {where} is not a mapping")
            node = child
        node[parts[-1]] = value
    return result


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def chart_dir() -> Path:
    """The chart shipped with the kit."""
    return data_path("helm", CHART_NAME)


def write_chart(topology: Topology, imgs: plan.ImageSet, out_dir: Path) -> Path:
    """Copy the chart to out_dir/helm/stack/ with values.yaml for topology; return its path."""
    target = Path(out_dir) / "helm" / CHART_NAME
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(chart_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target / "values.yaml").write_text(yamlio.dump(values(topology, imgs)), encoding="utf-8")
    return target
