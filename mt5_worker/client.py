"""What callers use: :class:`MT5Client` enqueues the ``mt5.*`` tasks and routes them.

Routing: a request for an account goes to the worker whose session store in Redis lists that account (its
own ``<nodename>.dq2`` queue, Celery's ``worker_direct``), so the account keeps one session on one terminal.
An account no worker holds goes to the shared ``mt5`` queue, where any idle worker takes it.
Passwords travel only in the task message body; the ``argsrepr``/``kwargsrepr`` that Celery logs and sends
to Flower show them redacted.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import Celery
from celery.result import AsyncResult
from celery.utils import worker_direct

from mt5_worker.config import Settings
from mt5_worker.credentials import seal_credentials
from mt5_worker.logging import get_logger, redact
from mt5_worker.sessions import REDIS_DOWN, connect, holder_of, live_workers

log = get_logger("mt5_worker.client")


class MT5Client:
    """Enqueue mt5 tasks from a web app (or anything else) and wait for their JSON results."""

    def __init__(self, app: Celery | None = None, settings: Settings | None = None) -> None:
        if app is None:
            from mt5_worker.app import app as default_app

            app = default_app
        self.app = app
        self.settings = settings if settings is not None else Settings.load()
        self._redis: redis.Redis = connect(self.settings.session_store_url)

    # --- asynchronous: return the AsyncResult -----------------------------------------------------

    def account_info_async(self, login: int, server: str | None = None, password: str | None = None) -> AsyncResult:
        kwargs = {"login": login, "server": server, "password": password}
        return self._send("mt5.account_info", kwargs, queue=self.route(login))

    def login_async(self, login: int, password: str, server: str) -> AsyncResult:
        kwargs = {"login": login, "password": password, "server": server}
        return self._send("mt5.login", kwargs, queue=self.route(login))

    # --- synchronous helpers ----------------------------------------------------------------------

    def account_info(
        self, login: int, server: str | None = None, password: str | None = None, *, timeout: float = 60
    ) -> dict[str, Any]:
        """The account's ``AccountInfo`` fields; raises the task's typed error (code, message) on failure."""
        result: dict[str, Any] = self.account_info_async(login, server, password).get(timeout=timeout)
        return result

    def login(self, login: int, password: str, server: str, *, timeout: float = 60) -> dict[str, Any]:
        result: dict[str, Any] = self.login_async(login, password, server).get(timeout=timeout)
        return result

    def health(self, worker: str | None = None, *, timeout: float = 30) -> dict[str, Any]:
        """``mt5.health`` of ``worker`` (a nodename), or of whichever worker takes it."""
        result: dict[str, Any] = self._send("mt5.health", {}, queue=self._queue_of(worker)).get(timeout=timeout)
        return result

    def pool_stats(self, worker: str | None = None, *, timeout: float = 30) -> dict[str, Any]:
        result: dict[str, Any] = self._send("mt5.pool_stats", {}, queue=self._queue_of(worker)).get(timeout=timeout)
        return result

    def pool_stats_all(self, *, timeout: float = 30) -> list[dict[str, Any]]:
        """``mt5.pool_stats`` of every live worker."""
        pending = [self._send("mt5.pool_stats", {}, queue=self._queue_of(w)) for w in self.workers()]
        return [r.get(timeout=timeout) for r in pending]

    # --- routing ----------------------------------------------------------------------------------

    def workers(self) -> list[str]:
        """Workers that announced themselves recently (within three idle-sweep intervals)."""
        since = time.time() - 3 * self.settings.idle_sweep_interval
        try:
            return live_workers(self._redis, since)
        except REDIS_DOWN:
            log.warning("mt5.client.redis_unavailable", operation="workers")
            return []

    def route(self, login: int) -> Any:
        """The queue for ``login``'s requests: its holder's own queue, else the shared one (``None``)."""
        if not isinstance(login, int) or isinstance(login, bool):
            return None  # the worker rejects it with a clear error; do not guess a route
        try:
            holder = holder_of(self._redis, login, self.workers())
        except REDIS_DOWN:
            log.warning("mt5.client.redis_unavailable", operation="route")
            holder = None
        return self._queue_of(holder)

    def close(self) -> None:
        self._redis.close()

    @staticmethod
    def _queue_of(worker: str | None) -> Any:
        return worker_direct(worker) if worker else None

    def _send(self, name: str, kwargs: dict[str, Any], queue: Any) -> AsyncResult:
        kwargs = seal_credentials(kwargs, self.settings)  # passwords encrypted when MT5_CREDENTIALS_KEY is set
        options: dict[str, Any] = {"kwargsrepr": repr(redact(kwargs))}
        if queue is not None:
            options["queue"] = queue
        return self.app.send_task(name, kwargs=kwargs, **options)
