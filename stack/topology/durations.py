"""Beat schedule values: intervals ("90", "5m", "1h30m") and five-field cron expressions."""

from __future__ import annotations

import re
from typing import Any

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_interval(value: Any) -> float:
    """Seconds from a number or a string such as "5m", "1h30m", "2.5s"; must be positive."""
    if isinstance(value, bool):
        raise ValueError("an interval is a number of seconds or a string such as '5m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(
                    f"invalid interval {value!r}: use seconds or units ms/s/m/h/d, "
                    "e.g. '90s', '1h30m'"
                ) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError("an interval is a number of seconds or a string such as '5m'")
    if not seconds > 0:
        raise ValueError(f"interval must be positive, got {value!r}")
    return seconds


CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def cron_fields(expr: str, parse: bool = True) -> dict[str, str]:
    """Split and check a cron expression with Celery's own crontab parser (parse=False:
    five fields, not parsed: importing Celery's parser takes ~0.1 s)."""
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(
            f"invalid cron {expr!r}: expected 5 fields (minute hour day-of-month month day-of-week)"
        )
    fields = dict(zip(CRON_FIELDS, parts, strict=True))
    if not parse:
        return fields
    from celery.schedules import ParseException, crontab  # lazy: celery is heavy to import

    try:
        crontab(**fields)
    except (ParseException, ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"invalid cron {expr!r}: {exc}") from None
    return fields
