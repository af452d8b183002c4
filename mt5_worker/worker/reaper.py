"""Re-publish what a departed worker's queue still holds, so no request waits for a terminal that is gone.

A worker that stops heartbeating may leave messages in ``mt5.terminal.<id>``: requests routed to it before
clients noticed, retries it scheduled, and the unacknowledged ones it had taken when it died, which the broker
restores there (Redis after ``MT5_BROKER_VISIBILITY_TIMEOUT``; RabbitMQ as soon as the worker's connection is
gone). Survivors move them, message by message and unchanged (same task id, headers and body), to the queue
rendezvous hashing now picks for their account. ``basic_get`` hands each message to one consumer only, so two
reapers never move the same message; each is acknowledged only once its copy is published (on RabbitMQ, once
the broker confirmed it), so a reaper that dies mid-move leaves it unacknowledged, and the broker restores it
later (at worst a read runs twice; reads are idempotent). The same code serves both brokers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from celery import Celery
from kombu.entity import Queue
from kombu.messaging import Producer

from mt5_worker.fleet.routing import choose, login_of, terminal_queue_name
from mt5_worker.logging import get_logger
from mt5_worker.settings import SHARED_QUEUE

log = get_logger("mt5_worker.worker.reaper")

_KEPT_PROPERTIES = ("correlation_id", "reply_to", "priority", "delivery_mode")


def queue_length(app: Celery, queue: str) -> int:
    """Messages ready in ``queue`` (0 if it was never declared). Called every fraction of a second (load reports):
    on a pooled connection, since opening an AMQP connection per call would churn RabbitMQ's; on a channel of its
    own, since a missing queue closes the channel that asked."""
    with app.pool.acquire(block=True) as conn:
        channel = conn.channel()
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except conn.channel_errors:  # never declared: nothing in it
            return 0
        finally:
            with contextlib.suppress(*conn.channel_errors, *conn.connection_errors):
                channel.close()


def drain(app: Celery, departed: str, live: Mapping[str, int], limit: int = 10_000) -> int:
    """Move up to ``limit`` messages from ``departed``'s queue to their accounts' live workers; returns the count."""
    if not live:
        return 0  # nowhere to move them: they wait for a worker
    source = terminal_queue_name(departed)
    moved = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        producer = Producer(channel)
        # Through kombu's Queue, a message is kombu's on every transport (py-amqp's own has no ack()).
        departed_queue = Queue(source).bind(channel)
        while moved < limit:
            try:
                message = departed_queue.get(no_ack=False)
            except conn.channel_errors:  # RabbitMQ: no such queue (never declared, or deleted): nothing in it
                break
            if message is None:
                break
            target = _target(message, live)
            queue = app.amqp.queues[target]
            properties = {k: v for k, v in message.properties.items() if k in _KEPT_PROPERTIES}
            producer.publish(
                message.body,
                exchange="",
                routing_key=queue.routing_key,
                declare=[queue],
                headers=message.headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                **properties,
            )
            message.ack()
            moved += 1
    if moved:
        log.warning("mt5.reaper.moved", departed=departed, messages=moved)
    return moved


def _target(message: Any, live: Mapping[str, int]) -> str:
    """The queue of the account's new worker; the shared queue when the message names no valid account."""
    try:
        args, kwargs, _ = json.loads(message.body)
        login = login_of(args, kwargs)
    except (ValueError, TypeError):
        login = None
    terminal_id = choose(login, live) if login is not None else None
    return terminal_queue_name(terminal_id) if terminal_id else SHARED_QUEUE
