"""Docker healthchecks of the containers `stack up` creates."""

from __future__ import annotations

from stack.deploy.docker.spec import NANOSECONDS, PROBE_INTERVAL, for_engine, healthcheck
from stack.deploy.services import Healthcheck


def test_probes_rarely_once_started_and_keeps_the_time_to_unhealthy() -> None:
    check = healthcheck(Healthcheck(test=("CMD-SHELL", "true"), interval=5, retries=24))
    assert check["Interval"] == PROBE_INTERVAL * NANOSECONDS
    # 24 failures 5 s apart = 2 minutes before unhealthy; at 30 s that is 4 failures.
    assert check["Retries"] == 4
    assert check["Test"] == ["CMD-SHELL", "true"]


def test_a_slower_plan_interval_is_kept() -> None:
    check = healthcheck(Healthcheck(test=("CMD", "x"), interval=60, retries=3))
    assert (check["Interval"], check["Retries"]) == (60 * NANOSECONDS, 3)


def test_start_interval_only_for_engines_that_know_it() -> None:
    check = healthcheck(Healthcheck(test=("CMD", "x")))
    assert "StartInterval" not in for_engine(check, "1.41")
    assert "StartInterval" not in for_engine(check, "1.43")
    assert for_engine(check, "1.44")["StartInterval"] == NANOSECONDS
    assert for_engine(check, "1.47") == check
