"""Names the workers (container/deliveries.py) and the host (deploy/ops/deadletters.py) share
for poison messages: the delivery count header, the dead-letter queue, where a letter came from."""

from __future__ import annotations

from typing import Any

HEADER = "stack-deliveries"  # deliveries to a worker process that died
ORIGIN_EXCHANGE = "stack-origin-exchange"
ORIGIN_ROUTING_KEY = "stack-origin-routing-key"
DEAD_QUEUE = "stack.dead"


def dead_queue() -> Any:
    from kombu.entity import Exchange, Queue

    exchange = Exchange(DEAD_QUEUE, type="direct")  # type: ignore[no-untyped-call]
    return Queue(DEAD_QUEUE, exchange, routing_key=DEAD_QUEUE)  # type: ignore[no-untyped-call]


def republish(
    app: Any,
    message: Any,
    *,
    exchange: str,
    routing_key: str,
    headers: dict[str, Any],
    declare: tuple[Any, ...] = (),
) -> None:
    """message's body as it is, with headers, to exchange/routing_key."""
    properties = message.properties or {}
    with app.producer_or_acquire() as producer:
        producer.publish(
            message.body,
            exchange=exchange,
            routing_key=routing_key,
            headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            priority=properties.get("priority"),
            correlation_id=properties.get("correlation_id"),
            timestamp=properties.get("timestamp"),  # its age counts from its first send
            reply_to=properties.get("reply_to"),
            declare=list(declare),
            # Bounded: a worker's main loop must not wait out a broker outage here.
            retry=True,
            retry_policy=app.conf.task_publish_retry_policy,
        )
