"""The fleet's own costs: the broadcast idle sweep's fan-out. Beat sends ``mt5.evict_idle`` to ``mt5.broadcast``,
which kombu's Redis transport fans out with one ``PUBLISH``, a copy to each worker's own subscription: here N
subscribers, each its own connection as each worker has, and the sweep sent as beat sends it."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from kombu.common import Broadcast as KombuBroadcast
from kombu.connection import Connection
from kombu.messaging import Consumer

from bench.capacity_members import redis_usage
from mt5_worker.fleet.sessions import connect

_TAP = "mt5-bench-broadcast-tap"  # this process's own subscriber, which reads the message's size


@dataclass
class Broadcast:
    subscribers: int
    delivered: int  # copies of one sweep message the subscribers received
    message_bytes: int
    client_buffers_bytes: int  # the subscribers' output buffers right after the publish (CLIENT LIST's obl + omem)
    redis_us_per_delivery: float  # Redis CPU per copy delivered (``repeats`` more broadcasts, INFO's CPU time)
    deliver_s: float  # publish -> every subscriber has it (read one after another by this process)


def broadcast(app: Celery, redis_url: str, n: int, repeats: int = 20) -> Broadcast:
    """``n`` consumers of the broadcast queue (each its own connection, as each worker has), and the idle sweep
    sent as beat sends it."""
    r = connect(redis_url, timeout=30)
    declared = next(q for q in app.conf.task_queues if q.exchange.name == "mt5.broadcast")
    received = [0] * n
    connections, consumers = [], []
    for i in range(n):
        conn = Connection(redis_url, transport_options=app.conf.broker_transport_options)
        queue = KombuBroadcast(declared.exchange.name, routing_key=declared.routing_key)  # its own bcast.<uuid>
        consumer = Consumer(conn.channel(), queues=[queue], accept=["json"],
                            callbacks=[lambda body, message, i=i: _count(received, i, message)])  # fmt: skip
        consumer.consume()
        with contextlib.suppress(TimeoutError, OSError):
            conn.drain_events(timeout=0.001)  # subscribes (kombu's Redis transport does it on its first poll)
        connections.append(conn)
        consumers.append(consumer)
    tap = redis.Redis.from_url(redis_url, client_name=_TAP)
    raw = tap.pubsub()
    raw.psubscribe("*mt5.broadcast*")  # what travels: the whole message as PUBLISH carries it
    raw.get_message(timeout=1)
    try:
        started = time.perf_counter()
        app.send_task("mt5.evict_idle", expires=60)
        probe = time.perf_counter()
        buffers = _subscriber_buffers(r)
        probe = time.perf_counter() - probe  # not part of the delivery: left out of its time
        _drain_all(connections)
        deliver = time.perf_counter() - started - probe
        delivered = sum(received)
        payload = raw.get_message(timeout=5)
        size = len(payload["data"]) if payload else 0
        raw.close()
        tap.close()
        _, cpu = redis_usage(r)
        for _ in range(repeats):
            app.send_task("mt5.evict_idle", expires=60)
        per_delivery = (redis_usage(r)[1] - cpu) / repeats / n * 1e6
        _drain_all(connections)
    finally:
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.release()
    return Broadcast(n, delivered, size, buffers, per_delivery, deliver)


def _subscriber_buffers(r: redis.Redis) -> int:
    """Output-buffer bytes Redis holds for the broadcast's subscribers: each one's fixed buffer (``obl``) and its
    reply list (``omem``). Read per client: a difference of ``INFO memory``'s total would also count every other
    client's query buffers, and can come out negative."""
    return sum(int(c["obl"]) + int(c["omem"]) for c in r.client_list()
               if c.get("name") != _TAP and int(c.get("sub", 0)) + int(c.get("psub", 0)) > 0)  # fmt: skip


def _count(received: list[int], i: int, message: Any) -> None:
    received[i] += 1


def _drain_all(connections: list[Connection]) -> None:
    for conn in connections:
        with contextlib.suppress(TimeoutError, OSError):
            conn.drain_events(timeout=0.05)
