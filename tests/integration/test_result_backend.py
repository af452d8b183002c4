"""The result backend's writes on a real Redis: each result crosses the socket once (one EVALSHA, not Celery's
SET + PUBLISH of the same bytes), and what a client sees is what Celery's own backend gives it: the same stored
value, expiry and message on the same channel; retried through a Redis restart (which also empties the script
cache)."""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from celery import Celery, states
from celery.backends.redis import RedisBackend

from mt5_worker.cli.devstack import RedisServer
from mt5_worker.errors import MT5Error
from mt5_worker.settings import Settings
from mt5_worker.worker.celery_config import celery_config
from mt5_worker.worker.result_backend import MT5RedisBackend

PAYLOAD = "x" * 1_000_000  # large enough that a second copy stands out from every other byte of traffic
EXPIRES, FAILURE_EXPIRES = 3_000, 1_000


def _backend(kind: type[RedisBackend], url: str, **conf: Any) -> RedisBackend:
    app = Celery("result-backend", set_as_current=False)
    app.conf.update({"result_backend": url, "result_serializer": "json", "result_expires": EXPIRES} | conf)
    return kind(app=app, url=url)


def _stats(r: redis.Redis) -> tuple[int, dict[str, int]]:
    """Bytes Redis has read from all clients, and calls per command."""
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in r.info("commandstats").items()}
    return int(r.info("stats")["total_net_input_bytes"]), calls


def _store(
    backend: RedisBackend, r: redis.Redis, task_id: str, result: Any, state: str
) -> tuple[bytes, int, dict[str, int]]:
    """Store ``result`` as the worker does while a client waits on its channel: the message it gets, and the bytes
    and commands Redis received for it."""
    key = backend.get_key_for_task(task_id)
    listener = r.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(key)
    listener.get_message(timeout=1)  # the subscription's confirmation
    before, calls_before = _stats(r)
    backend.store_result(task_id, result, state)
    after, calls_after = _stats(r)
    message = listener.get_message(timeout=5)
    listener.close()
    assert message is not None and message["channel"] == key
    calls = {name: n - calls_before.get(name, 0) for name, n in calls_after.items() if n != calls_before.get(name, 0)}
    return message["data"], after - before, calls


def test_a_result_is_sent_to_redis_once_and_seen_as_celerys_backend_leaves_it(
    private_redis_server: RedisServer,
) -> None:
    url = private_redis_server.url
    r = redis.Redis.from_url(url)
    ours, celerys = _backend(MT5RedisBackend, url), _backend(RedisBackend, url)
    ours.set("warm-up", "{}")  # loads the script once per backend: not this result's traffic

    message, received, calls = _store(ours, r, "ours", PAYLOAD, states.SUCCESS)
    plain_message, plain_received, plain_calls = _store(celerys, r, "celerys", PAYLOAD, states.SUCCESS)

    assert received < 1.2 * len(PAYLOAD) <= 2 * len(PAYLOAD) < plain_received  # once, where Celery's sends it twice
    assert 1 == calls["evalsha"] and "multi" not in calls, calls
    assert {"multi", "setex", "publish", "exec"} <= set(plain_calls), plain_calls
    for task_id, published in (("ours", message), ("celerys", plain_message)):
        key = ours.get_key_for_task(task_id)
        assert published == r.get(key)
        assert EXPIRES - 5 < r.ttl(key) <= EXPIRES
    assert _meta(message, "ours") == _meta(plain_message, "celerys")
    assert PAYLOAD == ours.get_task_meta("ours")["result"]


def test_failures_keep_their_own_expiry_and_no_expiry_means_none(private_redis_server: RedisServer) -> None:
    url = private_redis_server.url
    r = redis.Redis.from_url(url)
    for kind in (MT5RedisBackend, RedisBackend):  # ours as Celery's
        prefix = kind.__name__
        failing = _backend(kind, url, result_failure_expires=FAILURE_EXPIRES)
        message, _, _ = _store(failing, r, f"{prefix}-failed", MT5Error(10004, "requote"), states.FAILURE)
        key = failing.get_key_for_task(f"{prefix}-failed")
        assert message == r.get(key) and FAILURE_EXPIRES - 5 < r.ttl(key) <= FAILURE_EXPIRES
        forever = _backend(kind, url, result_expires=None)
        message, _, _ = _store(forever, r, f"{prefix}-kept", {"bars": 3}, states.SUCCESS)
        key = forever.get_key_for_task(f"{prefix}-kept")
        assert message == r.get(key) and -1 == r.ttl(key)


def test_a_result_stored_while_redis_restarts_is_retried_and_the_script_loaded_again(
    private_redis_server: RedisServer,
) -> None:
    url = private_redis_server.url
    config = celery_config(Settings.load(_env_file=None, redis_url=url))
    retries = {key: value for key, value in config.items() if key.startswith("result_backend_")}
    assert retries["result_backend_always_retry"]  # the worker's: a read or write fails only after its retries
    backend = _backend(MT5RedisBackend, url, **retries)
    backend.store_result("before", 1, states.SUCCESS)  # the script is loaded; the restart forgets it
    private_redis_server.stop()
    restart = threading.Timer(1.0, private_redis_server.start)
    restart.start()
    started = time.monotonic()
    try:
        backend.store_result("during", {"bars": 2}, states.SUCCESS)  # Celery's retry on connection errors
    finally:
        restart.join()  # before the fixture stops the server: never a server left running after the test
    assert time.monotonic() - started >= 0.9  # it did wait for Redis
    meta = backend.get_task_meta("during")
    assert (states.SUCCESS, {"bars": 2}) == (meta["status"], meta["result"])
    assert 0 < redis.Redis.from_url(url).ttl(backend.get_key_for_task("during")) <= EXPIRES


def _meta(message: bytes, task_id: str) -> dict[str, Any]:
    """The published result without what differs by task: its id and the time it was stored."""
    import orjson

    meta: dict[str, Any] = orjson.loads(message)
    assert task_id == meta.pop("task_id")
    meta.pop("date_done")
    return meta
