"""``AsyncMT5Client``: the ``mt5.*`` tasks from ``async def`` code (FastAPI, aiohttp, ...), never blocking the loop.

- Publishing: Celery's producer is blocking, so every send runs on ONE publisher thread owned by the client
  (routing and the broker round trip included); the loop only awaits it. Sends are short (about a
  millisecond), so one thread keeps up with many requests, and the thread count does not grow with load.
- Results: awaited through ``redis.asyncio`` (:mod:`mt5_worker.client.results`): one pub/sub connection and one
  reader task for every pending result, no thread per request.
- Errors: the task's typed error (``AuthorizationError`` ... with ``code`` and ``message``) is raised, as by
  ``MT5Client``; a result not there within ``timeout`` raises the built-in ``TimeoutError``.
- Cancellation (a client that disconnected, a timeout): the subscription is dropped and the request revoked,
  so a worker that has not started it yet drops it; its message also expires after ``timeout``.

The result backend must be Redis (``CELERY_RESULT_BACKEND`` / ``REDIS_URL``), as for the workers.

>>> async with AsyncMT5Client() as client:
...     info = await client.account_info(10000001, "MetaQuotes-Demo", "demo-10000001")
...     info["login"]
10000001
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import redis.asyncio as aioredis
from celery import Celery

import mt5_worker.errors  # noqa: F401  (Celery rebuilds typed errors only from modules already imported)
from mt5_worker.client.async_task_methods import AsyncTaskMethods
from mt5_worker.client.results import ResultListener
from mt5_worker.client.streaming import AsyncStreams
from mt5_worker.client.threaded import MT5Client
from mt5_worker.settings import Settings
from mt5_worker.worker.celery_config import celery_config

T = TypeVar("T")
REDIS_CONNECTIONS = 16  # to the result backend: one for pub/sub, the rest for reads of stored results


def publisher_app(settings: Settings) -> Celery:
    """A Celery app that only publishes: results are read by :class:`ResultListener`, so it has no result
    backend (Celery's Redis backend would subscribe to every task's channel on the publisher thread)."""
    app = Celery("mt5-async-client", set_as_current=False)
    config = celery_config(settings)  # the workers' own: serializers, events, the Redis fan-out revoke() needs
    app.conf.update(config)
    app.conf.update(
        result_backend=None,
        # kombu keeps one global connection pool per broker URL *and* transport options: a key of our own gives
        # this client a pool nobody else shares, so closing it cannot close another client's sockets.
        broker_transport_options=config["broker_transport_options"] | {"mt5_client": uuid.uuid4().hex},
    )
    return app


class AsyncMT5Client(AsyncTaskMethods, AsyncStreams):
    """The ``MT5Client`` API as coroutines. Use one per event loop, as an async context manager or closed
    with :meth:`aclose`. Methods: one per task (``account_info``, ``rates``, ``order_send``, ..., generated from the
    task table: :mod:`~mt5_worker.client.async_task_methods`), ``workers``, and :meth:`call` for any ``mt5.*`` task
    by name."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.load()
        self._app = publisher_app(self.settings)
        self._publisher = MT5Client(app=self._app, settings=self.settings)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt5-publisher")
        # Bounded, and waiting for a free connection rather than failing: 500 awaits need a handful, not 500.
        pool = aioredis.BlockingConnectionPool.from_url(self.settings.result_backend, max_connections=REDIS_CONNECTIONS)
        self._redis = aioredis.Redis(connection_pool=pool)
        self._results = ResultListener(self._redis)
        self._closed = False

    async def __aenter__(self) -> AsyncMT5Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- the tasks --------------------------------------------------------------------------------

    async def call(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        terminal_id: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Run task ``name`` (routed like ``MT5Client.submit``) and return its result.

        Raises the task's typed error; ``TimeoutError`` after ``timeout`` seconds (default
        ``MT5_REQUEST_TIMEOUT``), which is also when the request expires unserved; ``OperationalError``
        when the broker stays unreachable for ``MT5_PUBLISH_TIMEOUT``.
        """
        if self._closed:
            raise RuntimeError("AsyncMT5Client is closed")
        timeout = self.settings.request_timeout if timeout is None else timeout
        task_id = str(uuid.uuid4())
        refused = False  # the publish itself failed: nothing was sent, nothing to revoke
        try:
            async with asyncio.timeout(timeout):
                # Subscribes while the publish runs; its first read of the key catches a result stored earlier.
                waiting = asyncio.ensure_future(self._results.wait(task_id))
                try:
                    try:
                        _, queue = await self._in_thread(
                            self._publisher.submit_routed, name, kwargs, terminal_id=terminal_id, expires=timeout,
                            task_id=task_id,
                        )  # fmt: skip
                    except Exception:
                        refused = True
                        raise
                    meta = await waiting
                    self._answered(name, queue)  # what it holds, a result or an error, is an answer
                finally:
                    if not waiting.done():
                        waiting.cancel()
                        await asyncio.gather(waiting, return_exceptions=True)
        except BaseException:
            if not refused:
                self._revoke(task_id)  # harmless if it already ran; dropped if no worker has started it yet
            raise
        return self._outcome(meta)

    async def workers(self) -> list[str]:
        """Terminal ids of the live workers."""
        return await self._in_thread(self._publisher.workers)

    # --- lifecycle --------------------------------------------------------------------------------

    def pending(self) -> int:
        """Results being awaited right now."""
        return self._results.pending()

    async def aclose(self) -> None:
        """Close the result listener, the Redis connections and the publisher thread (after its last send)."""
        if self._closed:
            return
        self._closed = True
        await self._close_streams()
        await self._results.aclose()
        await self._redis.aclose(close_connection_pool=True)
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown_publisher)

    def _shutdown_publisher(self) -> None:
        self._thread.shutdown(wait=True)
        self._publisher.close()
        self._app.pool.force_close_all()
        self._app.close()

    # --- internals --------------------------------------------------------------------------------

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, lambda: fn(*args, **kwargs))

    def _revoke(self, task_id: str) -> None:
        """Queued behind the publish of the same id on the one publisher thread, so it always follows it."""
        with contextlib.suppress(RuntimeError):  # shutting down: the message's expiry still drops the request
            self._thread.submit(self._app.control.revoke, task_id)

    def _answered(self, name: str, queue: str | None) -> None:
        """Tell the router on the publisher thread: it holds the router's lock across a registry read (once a
        ``MT5_ROUTING_CACHE_SECONDS``), which the event loop must not wait for."""
        with contextlib.suppress(RuntimeError):  # shutting down: nothing is routed any more
            self._thread.submit(self._publisher.answered, name, queue)

    def _outcome(self, meta: dict[str, Any]) -> Any:
        if meta.get("status") == "SUCCESS":
            return meta.get("result")
        raise self._app.backend.exception_to_python(meta.get("result"))
