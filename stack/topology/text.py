"""The topology as the Helm chart's ConfigMap mounts it: one text, shared by the chart
(deploy/render/helm.py) and the image's snapshot (settings/snapshot.py), which accepts it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.topology import yamlio

if TYPE_CHECKING:
    from stack.topology.model import Topology

# The ConfigMap must not carry credentials: containers take the URLs from the Secret.
_URL_ENV = {"broker": "${STACK_BROKER_URL}", "backend": "${STACK_RESULT_BACKEND}"}


def topology_text(topology: Topology) -> str:
    """The topology as YAML for the ConfigMap: non-default keys only, external URLs elided."""
    data = topology.model_dump(mode="json", exclude_defaults=True)
    for key, placeholder in _URL_ENV.items():
        if isinstance(data.get(key), dict) and data[key].get("url") is not None:
            data[key]["url"] = placeholder
    return yamlio.dump(data)
