"""Await Celery task results on an asyncio event loop, from the Redis result backend, with no thread per result.

Celery's Redis backend stores a task's state under ``celery-task-meta-<id>`` and publishes the same bytes on
a pub/sub channel of that name. :class:`ResultListener` keeps ONE pub/sub connection for all pending results
and one reader task that hands each message to the coroutine waiting for it. A waiter:

1. subscribes to its channel and waits for the server's confirmation,
2. reads the key once: a result stored before the subscription took effect is not missed,
3. waits for a message on the channel; every ``RECHECK`` seconds it reads the key again, so a message lost to
   a Redis reconnect costs a delay, never a hang,
4. unsubscribes, whatever happened (result, timeout, cancellation): no subscription outlives its waiter.

Only ready states end the wait (``SUCCESS``, ``FAILURE``, ``REVOKED``); ``STARTED`` and ``RETRY`` are
published too and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from celery import states
from kombu.utils.json import loads
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mt5_worker.logging import get_logger

KEY_PREFIX = "celery-task-meta-"  # Celery's BaseKeyValueStoreBackend.task_keyprefix
RECHECK = 2.0  # seconds between reads of the key while no message arrived
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)

log = get_logger("mt5_worker.client.results")


@dataclass
class _Waiter:
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    meta: asyncio.Future[dict[str, Any]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def offer(self, raw: bytes | str | None) -> None:
        """Settle the future with a decoded meta if ``raw`` is a ready state; ignore anything else."""
        if raw is None or self.meta.done():
            return
        meta = loads(raw)
        if isinstance(meta, dict) and meta.get("status") in states.READY_STATES:
            self.meta.set_result(meta)


class ResultListener:
    """Waits for task results of one Redis result backend; one per event loop.

    >>> listener = ResultListener(redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/0"))
    >>> meta = await listener.wait("8c0e...")  # {"status": "SUCCESS", "result": {...}, ...}
    >>> await listener.aclose()
    """

    def __init__(self, client: aioredis.Redis, recheck: float = RECHECK) -> None:
        self._client = client
        self._pubsub = client.pubsub()
        self._recheck = recheck
        self._waiters: dict[str, _Waiter] = {}
        self._reader: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()  # the first subscribers would each open a connection otherwise

    async def wait(self, task_id: str) -> dict[str, Any]:
        """The stored meta of ``task_id`` once it is ready. Wrap in ``asyncio.timeout`` to bound it."""
        channel = KEY_PREFIX + task_id
        waiter = _Waiter()
        self._waiters[channel] = waiter
        try:
            await self.subscribe(channel, waiter)
            waiter.offer(await self._client.get(channel))
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(waiter.meta), self._recheck)
                except TimeoutError:
                    waiter.offer(await self._client.get(channel))
        finally:
            del self._waiters[channel]
            # Shielded: a waiter cancelled again while unsubscribing still leaves no subscription behind.
            with contextlib.suppress(*REDIS_ERRORS):
                await asyncio.shield(self._pubsub.unsubscribe(channel))

    async def subscribe(self, channel: str, waiter: _Waiter) -> None:
        if self._pubsub.connection is None:
            async with self._connecting:
                if self._pubsub.connection is None:
                    await self._pubsub.connect()
        await self._pubsub.subscribe(channel)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read(), name="mt5-result-reader")
        await waiter.subscribed.wait()

    def pending(self) -> int:
        """Results being waited for."""
        return len(self._waiters)

    async def aclose(self) -> None:
        """Stop the reader and close the pub/sub connection (the caller closes the Redis client)."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._pubsub.aclose()

    async def _read(self) -> None:
        """The one reader of the pub/sub connection: routes confirmations and messages to their waiters."""
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except REDIS_ERRORS as exc:
                log.warning("mt5.results.redis_unavailable", error=str(exc), pending=len(self._waiters))
                await asyncio.sleep(0.2)  # redis-py reconnects and re-subscribes on the next read
                continue
            if message is None:
                continue
            channel = message["channel"]
            waiter = self._waiters.get(channel.decode() if isinstance(channel, bytes) else str(channel))
            if waiter is None:
                continue
            if message["type"] == "subscribe":
                waiter.subscribed.set()
            elif message["type"] == "message":
                waiter.offer(message["data"])
