"""What the host and the kit's observers in containers share, with nothing but the standard
library: the exporter's port and health path (container/exporter.py; the plan publishes
them, deploy/services.py), and how a runtime quantile is taken (`stack top` and the
exporter give the same p50/p95)."""

from __future__ import annotations

import math

METRICS_PORT = 9808
METRICS_HEALTH = "/healthz"  # answers at once: a scrape asks the broker and every worker


def quantile(values: list[float], q: float) -> float | None:
    """The nearest-rank q-quantile of values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
