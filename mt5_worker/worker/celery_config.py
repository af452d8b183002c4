"""Celery's configuration, computed from :class:`~mt5_worker.settings.Settings` (``celeryconfig`` applies it).

A pure function of the settings: nothing here opens a connection. The affinity router builds its registry
client on the first send that needs routing (:class:`AccountRouter`). The broker is Redis (the default) or
RabbitMQ, chosen by the broker URL's scheme; what only one of them needs is set for that one only
(docs/brokers.md).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from kombu.common import Broadcast
from kombu.entity import Exchange, Queue

from mt5_worker.fleet.routing import AffinityRouter
from mt5_worker.settings import SHARED_QUEUE, Settings
from mt5_worker.worker.json_codec import use_orjson
from mt5_worker.worker.result_backend import BACKEND

# kombu's Redis transport knows an exchange is fan-out only after the sending process declared it: without
# "declare", beat would publish the sweep as a direct message that no worker receives.
EVICT_ROUTE = {
    "mt5.evict_idle": {
        "queue": "mt5.broadcast",
        "exchange": "mt5.broadcast",
        "routing_key": "mt5.broadcast",
        "declare": [Exchange("mt5.broadcast", type="fanout")],
    }
}
SWEEP_EXPIRES_FLOOR = 10.0  # seconds a scheduled sweep stays worth running, however short the interval

# On RabbitMQ the service's queues ("mt5", each terminal's own) are durable quorum queues: replicated, and a message
# is removed only when a consumer acknowledges it. Each is bound to a topic exchange of its own name, because
# RabbitMQ's delayed delivery (how Celery retries a task after a countdown on quorum queues) can route back through
# topic and fan-out exchanges only. Clients of these queues (MT5Client, AsyncMT5Client) declare them exactly so, or
# RabbitMQ refuses with PRECONDITION_FAILED. The other shared queues ("celery") are where plain Celery clients
# publish, declared exactly as Celery's defaults declare them (is_plain_queue), so such a client needs no setting.
QUORUM = {"x-queue-type": "quorum"}
AMQP_EXCHANGE_TYPE = "topic"
# Seconds between AMQP heartbeats: a worker whose host or network died, rather than its process, is noticed by
# RabbitMQ (which then requeues what it held) after about two missed heartbeats.
AMQP_HEARTBEAT = 60


class AccountRouter:
    """Celery router: :class:`~mt5_worker.fleet.routing.AffinityRouter` (which decides what it routes), built
    with its Redis client on the first send rather than when the configuration is read."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._router: AffinityRouter | None = None
        self._lock = threading.Lock()

    def __call__(
        self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any], options: Mapping[str, Any], **_: Any
    ) -> dict[str, Any] | None:
        with self._lock:
            if self._router is None:
                self._router = AffinityRouter.from_settings(self._settings)
        return self._router(name, args, kwargs, options)


def is_plain_queue(name: str, settings: Settings) -> bool:
    """Whether ``name`` is a queue plain Celery clients publish to (a shared queue other than ``mt5``)."""
    return name != SHARED_QUEUE and name in settings.shared_queues


def task_queue(name: str, settings: Settings) -> Queue:
    """Queue ``name`` declared as every worker and client of this broker declares it: an exchange of its own name
    and a routing key of its name (Celery's declaration of a queue it was not told about), durable; on RabbitMQ the
    service's queues are quorum queues on a topic exchange, and plain clients' queues classic ones on a direct
    exchange, as Celery's defaults declare them."""
    if settings.broker_is_rabbitmq and not is_plain_queue(name, settings):
        return Queue(name, Exchange(name, type=AMQP_EXCHANGE_TYPE), routing_key=name, queue_arguments=dict(QUORUM))
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def redelivery_bound(settings: Settings) -> float:
    """Seconds after a worker's death by which the broker holds again, in that worker's queue, every message the
    worker took and never acknowledged (and any retry it scheduled there)."""
    if settings.broker_is_rabbitmq:
        # RabbitMQ requeues a consumer's unacknowledged messages when its connection closes: at once when the
        # process dies, after two missed heartbeats when its host does. A task still running on a cut-off host
        # ends within the time limit; a retry it scheduled arrives within the longest retry wait.
        return 2 * AMQP_HEARTBEAT + settings.task_time_limit + settings.retry_backoff_max
    return settings.visibility_timeout  # kombu's Redis transport restores them after it (settings enforce the rest)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting of the app, for ``config_from_object``; Celery's ``json`` is then served by orjson in
    this process (:mod:`mt5_worker.worker.json_codec`)."""
    use_orjson()
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        # Failed results without the worker's traceback, and with the MT5 code readable by any client
        # (mt5_worker.worker.result_backend); the loader looks these names up before Celery's own.
        "override_backends": {"redis": BACKEND, "rediss": BACKEND},
        "broker_connection_retry_on_startup": True,
        # JSON only: task arguments and results are plain data; nothing pickled is ever accepted from the broker.
        # Plain JSON on the wire, encoded with orjson here (json_codec), so any client reads it with its own.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # Results are for the caller waiting on them, not an archive (MT5_RESULT_EXPIRES seconds).
        "result_expires": settings.result_expires,
        # A result the worker cannot write because Redis is restarting is written again (backoff from 0.1 s up
        # to 10 s, about a minute in all) instead of turning a task that ran into a ConnectionError failure.
        "result_backend_always_retry": True,
        "result_backend_max_retries": 12,
        "result_backend_base_sleep_between_retries_ms": 100,
        # The SDK never releases the GIL: a stuck terminal call freezes the child, and only the prefork parent
        # can end it, by killing the child when this hard limit passes; the replacement child starts the
        # terminal afresh. Keep it above MT5_TERMINAL_TIMEOUT. Solo pools cannot enforce it.
        "task_time_limit": settings.task_time_limit,
        # Acknowledge after the task ran, so a worker that dies mid-task leaves the message to be redelivered,
        # including when the child process is killed (OOM, time limit, a stuck terminal call).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One terminal serves one request at a time. Without batching, reserve nothing another worker could
        # run now; with batching (MT5_BATCH_WINDOW > 1) reserve one window being served plus one filling, so
        # the worker can group the next window by account (worker.batching). On RabbitMQ's quorum queues the
        # count applies to each queue a worker consumes rather than to all of them together (docs/brokers.md).
        "worker_prefetch_multiplier": 1 if settings.batch_window == 1 else 2 * settings.batch_window,
        # The serialization guard: one process talks to the terminal. More throughput = more workers.
        "worker_concurrency": 1,
        "task_track_started": True,
        "task_send_sent_event": True,
        "worker_send_task_events": True,  # for Flower
        "task_default_queue": SHARED_QUEUE,
        # Every worker consumes the shared queues (MT5_SHARED_QUEUES): "mt5", where MT5Client sends what no
        # terminal owns, and "celery", where any plain Celery client (any language) publishes by default. A
        # worker also consumes its terminal's own queue, added at start-up (worker.app) as task_queue() makes
        # it, and the broadcast queue, through which the idle sweep reaches every worker.
        "task_queues": (
            *(task_queue(name, settings) for name in settings.shared_queues),
            Broadcast("mt5.broadcast", routing_key="mt5.broadcast"),
        ),
        # An explicit queue= in apply_async/send_task overrides both routes.
        "task_routes": (EVICT_ROUTE, AccountRouter(settings)),
        # Only one beat may run (two would send every sweep twice; the sweep is harmless when run twice anyway).
        "beat_schedule": {
            "mt5-evict-idle": {
                "task": "mt5.evict_idle",
                "schedule": settings.idle_sweep_interval,
                # A sweep a busy worker takes a little late still logs out what is idle by then; one still queued
                # after several intervals is moot (later ones do its work), so it expires rather than pile up.
                "options": {"expires": max(settings.idle_sweep_interval, SWEEP_EXPIRES_FLOOR)},
            }
        },
    } | (_rabbitmq(settings) if settings.broker_is_rabbitmq else _redis(settings))


def _redis(settings: Settings) -> dict[str, Any]:
    """What only kombu's Redis transport needs."""
    return {
        "broker_transport_options": {
            # Redis fan-out (the broadcast sweep): channels per database, and matched on exchange *and* routing
            # key, so the broadcast queue and its route name the same routing key.
            "fanout_prefix": True,
            "fanout_patterns": True,
            # A message a worker took and never acknowledged (it was killed) is redelivered after this long, to
            # the same queue; if that worker is gone for good, a survivor's reaper moves it on (worker.reaper).
            "visibility_timeout": settings.visibility_timeout,
            # kombu looks for such messages every interval x throttle seconds (100 s by default): look every
            # tenth of the timeout instead, so redelivery happens close to the timeout (one ZRANGE per look).
            "unacked_restore_interval": min(10, max(1, settings.visibility_timeout // 10)),
            "unacked_restore_throttle": 1,
            # The lock a worker takes for each such look expires after 300 s by default, so a worker killed while
            # holding it would stop every redelivery for 5 minutes. A look takes milliseconds, and each message
            # is taken out of "unacked" atomically, so a short lock cannot deliver a message twice.
            "unacked_mutex_expire": 10,
        },
    }


def _rabbitmq(settings: Settings) -> dict[str, Any]:
    """What RabbitMQ needs: quorum queues, publisher confirms, heartbeats (docs/brokers.md)."""
    return {
        # Every publish (clients, retries, the reaper) waits for RabbitMQ's confirmation that the message is
        # stored in its queue (on a majority of a quorum queue's replicas): a send that returns has not been lost.
        "broker_transport_options": {"confirm_publish": True},
        "broker_heartbeat": AMQP_HEARTBEAT,
        # Queues Celery declares on its own (a terminal's queue, the first time a client routes to it; the default
        # queue) are declared as task_queue() declares them, by the workers and by every client alike.
        "task_create_missing_queue_type": "quorum",
        "task_create_missing_queue_exchange_type": AMQP_EXCHANGE_TYPE,
        "task_default_queue_type": "quorum",
        "task_default_exchange_type": AMQP_EXCHANGE_TYPE,
        # Quorum queues have no channel-wide (global) prefetch: Celery sees them and sets the count per consumer.
        "worker_detect_quorum_queues": True,
        # A retry's countdown is waited out in RabbitMQ (a chain of quorum queues with message TTLs, declared by
        # each worker at start), not in the worker: a waiting retry holds none of the worker's prefetch.
        "broker_native_delayed_delivery_queue_type": "quorum",
    }
