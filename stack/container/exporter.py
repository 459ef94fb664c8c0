"""`python -m stack.container.exporter`: the topology's Prometheus endpoint (/metrics).

One service per topology, asked on each scrape (prometheus_client's custom collector):
the broker for each queue's depth per priority step and its oldest message's age
(settings/depths.py), the workers for their task outcomes (the kit's stack_outcomes
inspect command, container/outcomes.py), and beat's runs as beat last reported them (its
`stack-beat` events, container/beatstate.py). It needs no task events and imports none of
the app's code. Counters are per node (a node's restart resets its own series, which
Prometheus' rate() handles); sum them by group.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

from stack.container import paths
from stack.container.beatstate import EVENT
from stack.container.observed import METRICS_HEALTH, METRICS_PORT, quantile
from stack.settings import snapshot
from stack.settings.deadletter import DEAD_QUEUE
from stack.settings.depths import MANAGEMENT_PORT, Depths, management_url, read

INSPECT_TIMEOUT = 1.0
log = logging.getLogger("stack.exporter")


def group_of(node: str, groups: set[str]) -> str:
    group = node.partition("@")[0]
    return group if group in groups else ""  # "": a worker outside the topology


class Collector:
    def __init__(self, app: Any, queues: list[str], groups: set[str], management: str | None):
        self.app = app
        self.queues = queues
        self.groups = groups
        self.management = management
        self.beat: dict[str, dict[str, float | None]] = {}

    def describe(self) -> list[Any]:
        # Nothing to declare up front: else registering runs a whole scrape (broker and
        # workers) before the server listens.
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        broker_up = GaugeMetricFamily("stack_broker_up", "1 if the broker answered the scrape.")
        try:
            depths: Depths | None = read(
                self.app.conf.broker_url, [*self.queues, DEAD_QUEUE], self.management
            )
        except Exception as exc:  # reported as stack_broker_up 0, not as a failed scrape
            log.warning("stack: the broker did not answer: %r", exc)
            depths = None
        broker_up.add_metric([], 0 if depths is None else 1)
        yield broker_up
        if depths is not None:
            yield from self._queues(depths, GaugeMetricFamily)
        replies = self._outcomes()
        up = GaugeMetricFamily(
            "stack_workers_up", "Workers answering, per group.", labels=["group"]
        )
        tasks = CounterMetricFamily(
            "stack_tasks", "Tasks finished per worker node, by outcome.",
            labels=["group", "node", "outcome"],
        )  # fmt: skip
        runtime = GaugeMetricFamily(
            "stack_task_runtime_seconds", "Runtime quantiles of the last minute's tasks.",
            labels=["group", "quantile"],
        )  # fmt: skip
        answering = dict.fromkeys(sorted(self.groups), 0)
        samples: dict[str, list[float]] = {}
        for node, report in sorted(replies.items()):
            group = group_of(node, self.groups)
            if group:
                answering[group] += 1
            if not isinstance(report, dict) or "totals" not in report:
                continue  # a worker without the kit's command
            for outcome, n in sorted(report["totals"].items()):
                tasks.add_metric([group, node, outcome], float(n))
            samples.setdefault(group, []).extend(float(r) for r in report.get("runtimes", ()))
        for group, n in answering.items():
            up.add_metric([group], n)
        for group, values in sorted(samples.items()):
            for q in (0.5, 0.95):
                value = quantile(values, q)
                if value is not None:
                    runtime.add_metric([group, str(q)], value)
        yield from (up, tasks, runtime)
        yield from self._beat(GaugeMetricFamily)

    def _queues(self, depths: Depths, gauge: Any) -> Iterator[Any]:
        messages = gauge("stack_queue_messages", "Messages waiting, per queue and priority step.",
                         labels=["queue", "priority"])  # fmt: skip
        oldest = gauge(
            "stack_queue_oldest_message_age_seconds",
            "How long the oldest waiting message has waited (messages the kit stamped).",
            labels=["queue"],
        )
        for queue in self.queues:
            for step, n in sorted(depths.pending.get(queue, {}).items()):
                messages.add_metric([queue, str(step)], n)
            age = depths.oldest.get(queue)
            if age is not None:
                oldest.add_metric([queue], age)
        dead = gauge("stack_dead_letters", f"Messages in the dead-letter queue {DEAD_QUEUE}.")
        dead.add_metric([], sum(depths.pending.get(DEAD_QUEUE, {}).values()))
        yield from (messages, oldest, dead)

    def _outcomes(self) -> dict[str, Any]:
        try:
            with self.app.connection_for_write() as conn:
                inspect = self.app.control.inspect(timeout=INSPECT_TIMEOUT, connection=conn)
                return dict(inspect._request("stack_outcomes") or {})
        except Exception as exc:  # the broker went away mid-scrape: no worker figures
            log.warning("stack: could not ask the workers: %r", exc)
            return {}

    def _beat(self, gauge: Any) -> Iterator[Any]:
        last = gauge("stack_beat_last_run_timestamp_seconds", "Beat's last run of an entry.",
                     labels=["entry"])  # fmt: skip
        following = gauge("stack_beat_next_run_timestamp_seconds",
                          "Beat's next run of an entry.", labels=["entry"])  # fmt: skip
        for entry, times in sorted(self.beat.items()):
            if times.get("last_run") is not None:
                last.add_metric([entry], float(times["last_run"] or 0))
            if times.get("next_run") is not None:
                following.add_metric([entry], float(times["next_run"] or 0))
        yield from (last, following)

    def listen(self) -> None:
        """Beat's reports, as long as the process runs (reconnecting after a broker loss)."""

        def on_beat(event: dict[str, Any]) -> None:
            entries = event.get("entries")
            if isinstance(entries, dict):
                self.beat = entries

        while True:
            try:
                with self.app.connection_for_read() as conn:
                    # Beat's events only (routing key: the type, dots for dashes), not
                    # every heartbeat and task event on the exchange.
                    receiver = self.app.events.Receiver(
                        conn, handlers={EVENT: on_beat}, routing_key=EVENT.replace("-", ".")
                    )
                    receiver.capture(limit=None, timeout=None, wakeup=False)
            except Exception as exc:  # the broker is away: try again
                log.warning("stack: beat's events: %r; listening again in 5 s", exc)
                time.sleep(5)


def serve(port: int, registry: Any) -> None:
    """/metrics (any path but METRICS_HEALTH, as prometheus_client serves it) and
    METRICS_HEALTH."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import make_wsgi_app

    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == METRICS_HEALTH:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        return metrics(environ, start_response)

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, *_: Any) -> None:  # a line per scrape says nothing
            return

    # All interfaces of the container: the host port is bound as the topology says.
    with make_server("0.0.0.0", port, app, Server, handler_class=Quiet) as httpd:
        log.info("stack: metrics on :%d/metrics", port)
        httpd.serve_forever()


def main() -> None:
    from celery import Celery
    from prometheus_client import REGISTRY

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    topology_path = os.environ.get("STACK_TOPOLOGY", paths.TOPOLOGY)
    snap, _ = snapshot.current(topology_path, os.environ.get("STACK_SNAPSHOT", paths.SNAPSHOT))
    broker = os.environ.get("STACK_BROKER_URL")
    conf = snap.settings(broker, None, None) or {}
    app = Celery("stack-metrics", set_as_current=False)
    app.conf.update(conf)
    queues = [q.name for q in conf.get("task_queues") or ()]
    management = None
    if snap.broker_type == "rabbitmq" and broker:
        host = urllib.parse.urlsplit(broker).hostname or "rabbitmq"
        management = management_url(broker, host, MANAGEMENT_PORT)
    collector = Collector(app, queues, set(snap.groups), management)
    threading.Thread(target=collector.listen, name="beat-events", daemon=True).start()
    REGISTRY.register(collector)
    serve(int(os.environ.get("STACK_METRICS_PORT", METRICS_PORT)), REGISTRY)


if __name__ == "__main__":
    main()
