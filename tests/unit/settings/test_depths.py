"""The oldest message's age on RabbitMQ, from its management API (a real HTTP server here)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stack.settings.depths import management_url, rabbitmq_heads

SEEN: list[tuple[str, str]] = []


class Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the name http.server calls
        SEEN.append((self.path, self.headers.get("Authorization", "")))
        rows = [{"name": "red", "head_message_timestamp": 100},
                {"name": "blue", "head_message_timestamp": None}]  # fmt: skip
        body = json.dumps(rows).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def api() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_one_call_reads_every_queues_head_stamp_with_the_brokers_credentials(api: int) -> None:
    SEEN.clear()
    url = management_url("amqp://stack:p%40ss@rabbitmq:5672//", "127.0.0.1", api)
    assert url == f"http://stack:p%40ss@127.0.0.1:{api}/api/queues/%2F"
    assert rabbitmq_heads(url, ["red", "blue", "green"]) == {
        "red": 100.0, "blue": None, "green": None
    }  # fmt: skip
    [(path, auth)] = SEEN
    assert path == "/api/queues/%2F?columns=name,head_message_timestamp"
    assert base64.b64decode(auth.removeprefix("Basic ")) == b"stack:p@ss"
    vhost = management_url("amqp://u:p@h:5672/shop", "h", 15672)
    assert vhost.endswith("/api/queues/shop")


def test_an_unreachable_api_gives_no_ages_and_no_error(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from stack.settings import depths

    # Celery's logging setup in an earlier test of the run may have disabled the logger.
    monkeypatch.setattr(depths.log, "disabled", False)
    url = management_url("amqp://stack:secret@rabbitmq:5672//", "127.0.0.1", 9)  # discard port
    with caplog.at_level(logging.WARNING, logger=depths.log.name):
        assert rabbitmq_heads(url, ["red"]) == {"red": None}
    assert "management API" in caplog.text
    assert "secret" not in caplog.text
