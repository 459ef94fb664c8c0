import os
import time

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        # What a slow start looks like (a warm-up query, a remote config fetch): set by the
        # readiness test to see `stack up` say where a worker is stuck.
        warmup = float(os.environ.get("BILLING_WARMUP_SECONDS", "0"))
        if warmup:
            time.sleep(warmup)
