"""Helm's engine (helm-python-sdk): the only module that imports helm_python, lazily.

Rendering and linting need no cluster; deploy talks to the cluster of the current
kubeconfig, or to none with dry_run. Every Helm error becomes a one-line RuntimeStackError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from stack.errors import RuntimeStackError, StackError

_SEVERITY = {0: "unknown", 1: "info", 2: "warning", 3: "error"}


@dataclass(frozen=True)
class Finding:
    """One message of `helm lint`."""

    severity: str  # info | warning | error | unknown
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


def _helm() -> ModuleType:
    try:
        import helm_python
    except ImportError:
        raise StackError(
            "Helm support is not installed: pip install 'stack-celery[helm]'"
        ) from None
    return helm_python


def one_line(text: str) -> str:
    """Helm's multi-line messages (schema errors list one problem a line) on one line."""
    parts = [part.strip(" -") for part in text.splitlines()]
    joined = "; ".join(part for part in parts if part).replace(":; ", ": ")
    return re.sub(r"\s+", " ", joined).strip()


@contextmanager
def _wrapped(action: str) -> Iterator[ModuleType]:
    helm = _helm()
    try:
        yield helm
    except helm.HelmValuesError as exc:
        raise RuntimeStackError(f"helm {action}: invalid values: {one_line(str(exc))}") from None
    except (helm.HelmRenderError, helm.HelmReleaseError) as exc:
        raise RuntimeStackError(f"helm {action}: {one_line(str(exc))}") from None
    except helm.HelmError as exc:
        raise RuntimeStackError(
            f"helm {action}: {type(exc).__name__}: {one_line(str(exc))}"
        ) from None


def render(chart_dir: Path, values: dict[str, Any], name: str, namespace: str) -> dict[str, str]:
    """The chart's manifests offline: template path -> YAML text (no NOTES, no empty ones)."""
    with _wrapped("render") as helm, helm.Chart.load(chart_dir) as chart:
        rendered: dict[str, str] = chart.render(values, name=name, namespace=namespace)
    return {
        path: text
        for path, text in sorted(rendered.items())
        if not path.endswith("NOTES.txt") and text.strip()
    }


def notes(chart_dir: Path, values: dict[str, Any], name: str, namespace: str) -> str:
    """The chart's NOTES.txt as rendered for these values."""
    with _wrapped("render") as helm, helm.Chart.load(chart_dir) as chart:
        rendered: dict[str, str] = chart.render(values, name=name, namespace=namespace)
    return next((text for path, text in rendered.items() if path.endswith("NOTES.txt")), "")


def lint(chart_dir: Path, values: dict[str, Any], namespace: str = "default") -> list[Finding]:
    """`helm lint --strict` as data: every finding, info included."""
    with _wrapped("lint") as helm:
        report: dict[str, Any] = helm.lint(chart_dir, values, strict=True, namespace=namespace)
    findings = [
        Finding(
            _SEVERITY.get(int(m.get("severity", 0)), "unknown"),
            m.get("path", ""),
            one_line(str(m.get("error", ""))),
        )
        for m in report.get("messages") or []
    ]
    findings += [Finding("error", str(chart_dir), one_line(e)) for e in report.get("errors") or []]
    return findings


@dataclass(frozen=True)
class Rollout:
    """How `stack deploy` waits: wait until every object is ready (Helm's watcher), within
    timeout seconds, undoing a failed install or upgrade with rollback_on_failure."""

    wait: bool = False
    timeout: int | None = None
    rollback_on_failure: bool = False
    create_namespace: bool = False

    def options(self) -> dict[str, Any]:
        """Keyword arguments of helm-python-sdk's install and upgrade."""
        waits = self.wait or self.rollback_on_failure  # Helm's --rollback-on-failure waits
        return {
            "wait": "watcher" if waits else None,
            "timeout": self.timeout,
            "rollback_on_failure": self.rollback_on_failure,
        }


def deploy(
    chart_dir: Path,
    values: dict[str, Any],
    name: str,
    namespace: str,
    *,
    dry_run: bool,
    rollout: Rollout = Rollout(),
) -> str:
    """Install release name, or upgrade it if it exists; return the manifest applied.

    dry_run renders as `helm install --dry-run=client` would, with no cluster at all.
    """
    with _wrapped("deploy") as helm:
        helm.validate_release_name(name)
        with helm.Chart.load(chart_dir) as chart:  # schema errors as such, not as a failed release
            chart.validate_schema(chart.merge_values(values))
        if dry_run:
            with helm.Config(storage_driver="memory", namespace=namespace) as cfg:
                release = cfg.install(
                    chart_dir, name, values, namespace=namespace, dry_run="client"
                )
        else:
            with helm.Config(namespace=namespace) as cfg:
                try:
                    cfg.status(name)
                except helm.HelmNotFoundError:
                    release = cfg.install(
                        chart_dir, name, values, namespace=namespace,
                        create_namespace=rollout.create_namespace, **rollout.options(),
                    )  # fmt: skip
                else:
                    release = cfg.upgrade(
                        chart_dir, name, values, namespace=namespace, **rollout.options()
                    )
    return str(release.get("manifest", ""))
