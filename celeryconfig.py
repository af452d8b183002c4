"""Celery settings for mt5-worker, read from the same environment / ``.env`` as everything else.

Loaded by ``mt5_worker.worker.app`` with ``config_from_object``. A bad variable stops the worker at start-up with a
message naming it (see ``mt5_worker.settings``).
"""

from kombu import Exchange, Queue
from kombu.common import Broadcast

from mt5_worker.fleet.routing import AffinityRouter
from mt5_worker.settings import Settings
from mt5_worker.worker.result_backend import BACKEND

_settings = Settings.load()

broker_url = _settings.broker_url
result_backend = _settings.result_backend
# Failed results without the worker's traceback, and with the MT5 code readable by any client
# (mt5_worker.worker.result_backend); the loader looks these names up before Celery's own for the URL's scheme.
override_backends = {"redis": BACKEND, "rediss": BACKEND}
broker_connection_retry_on_startup = True
# Redis fan-out (the broadcast sweep): channels per database, and matched on exchange *and* routing key, so
# the broadcast queue and the route below name the same routing key.
broker_transport_options = {
    "fanout_prefix": True,
    "fanout_patterns": True,
    # A message a worker took and never acknowledged (it was killed) is redelivered after this long, to the
    # same queue; if that worker is gone for good, a survivor's reaper moves it on (mt5_worker.worker.reaper).
    "visibility_timeout": _settings.visibility_timeout,
    # kombu looks for such messages every interval x throttle seconds (100 s by default): look every
    # tenth of the timeout instead, so redelivery happens close to the timeout (one ZRANGE per look).
    "unacked_restore_interval": min(10, max(1, _settings.visibility_timeout // 10)),
    "unacked_restore_throttle": 1,
    # The lock a worker takes for each such look expires after 300 s by default: a worker killed while holding it
    # stopped every redelivery for 5 minutes (reliability/worker_kill.py). A look takes milliseconds, and each
    # message is taken out of "unacked" atomically, so a short lock cannot deliver a message twice.
    "unacked_mutex_expire": 10,
}

# JSON only: task arguments and results are plain data, and nothing pickled is ever accepted from the broker.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
# Results are for the caller waiting on them, not an archive: expire them (MT5_RESULT_EXPIRES seconds).
result_expires = _settings.result_expires
# A result the worker cannot write because Redis is restarting is written again (backoff from 0.1 s up to 10 s,
# about a minute in all) instead of turning a task that ran into a ConnectionError failure (reliability/).
result_backend_always_retry = True
result_backend_max_retries = 12
result_backend_base_sleep_between_retries_ms = 100

# The SDK never releases the GIL: a stuck terminal call freezes the child, and only the prefork parent can end
# it, by killing the child when this hard limit passes; the replacement child starts the terminal afresh. Keep
# it above MT5_TERMINAL_TIMEOUT (a login may legitimately wait that long). Solo pools cannot enforce it.
task_time_limit = _settings.task_time_limit

# Acknowledge after the task ran, so a worker that dies mid-task leaves the message to be redelivered ...
task_acks_late = True
# ... including when the child process is killed (OOM, time limit, a stuck terminal call): requeue it.
task_reject_on_worker_lost = True
# One terminal serves one request at a time. Without batching, reserve nothing another worker could run now;
# with batching (MT5_BATCH_WINDOW > 1) reserve one window being served plus one filling, so the worker can
# group the next window by account (mt5_worker.worker.batching).
worker_prefetch_multiplier = 1 if _settings.batch_window == 1 else 2 * _settings.batch_window
# The serialization guard: one process talks to the terminal. More throughput = more workers (terminals).
worker_concurrency = 1
task_track_started = True
task_send_sent_event = True
worker_send_task_events = True  # for Flower

task_default_queue = "mt5"
# Every worker consumes the shared queues (MT5_SHARED_QUEUES): "mt5", where MT5Client sends what no terminal
# owns, and "celery", where any plain Celery client (any language) publishes by default. Each is declared as
# Celery declares a default queue (a direct exchange and a routing key of the queue's name), so a message a
# plain client sends to "celery" lands in the list this worker reads. A worker also consumes its terminal's
# own queue, added at start-up (mt5_worker.worker.app), and the broadcast queue below.
task_queues = (
    *(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in _settings.shared_queues),
    # The idle sweep goes to every worker: each sweeps its own terminal's sessions.
    Broadcast("mt5.broadcast", routing_key="mt5.broadcast"),
)
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
# Account tasks go to the terminal their account hashes to (mt5_worker.fleet.routing). An explicit queue= in
# apply_async/send_task overrides both routes.
task_routes = (EVICT_ROUTE, AffinityRouter.from_settings(_settings))

# Only one beat may run (two would send every sweep twice; the sweep is harmless when run twice anyway).
beat_schedule = {
    "mt5-evict-idle": {
        "task": "mt5.evict_idle",
        "schedule": _settings.idle_sweep_interval,
        "options": {"expires": _settings.idle_sweep_interval},  # a sweep nobody ran in time is moot
    }
}
