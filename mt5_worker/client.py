"""What callers use to enqueue the ``mt5.*`` tasks.

Two shapes of the same API:
- module functions — ``account_info(login, ...)``, ``login(...)``, ``health(...)``, ``pool_stats(...)`` —
  return Celery ``AsyncResult``s, like ``Task.delay``; they use a client built from the settings;
- :class:`MT5Client`: the same as ``*_async`` methods, plus plain methods that wait and return the JSON result
  (raising the task's typed error, with its MT5 code and message, on failure).

Routing: an account's requests go to the worker its login hashes to (rendezvous hashing over the live
workers in the registry, :mod:`mt5_worker.routing`), so each account sticks to one terminal. With no worker
registered they go to the shared ``mt5`` queue. Passwords travel only in the task message body; the
``kwargsrepr`` that Celery logs and sends to Flower shows them redacted.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from mt5_worker.config import Settings
from mt5_worker.credentials import seal_credentials
from mt5_worker.logging import redact
from mt5_worker.registry import WorkerRegistry
from mt5_worker.routing import AffinityRouter, terminal_queue_name
from mt5_worker.sessions import REDIS_DOWN, connect


class MT5Client:
    """Enqueue mt5 tasks from a web app (or anything else), routed by account affinity."""

    def __init__(self, app: Celery | None = None, settings: Settings | None = None) -> None:
        if app is None:
            from mt5_worker.app import app as default_app

            app = default_app
        self.app = app
        self.settings = settings if settings is not None else Settings.load()
        self._redis = connect(self.settings.session_store_url)
        self.router = AffinityRouter(WorkerRegistry(self._redis), self.settings.routing_cache_seconds)
        # Fast-failing clients to the broker and result Redis, to check them before each send (see _wait_for_redis).
        urls = dict.fromkeys(u for u in (self.settings.broker_url, self.settings.result_backend) if "redis" in u)
        self._probes = [self._redis if u == self.settings.session_store_url else connect(u) for u in urls]

    # --- asynchronous: return the AsyncResult -----------------------------------------------------

    def account_info_async(self, login: int, server: str | None = None, password: str | None = None) -> AsyncResult:
        kwargs = {"login": login, "server": server, "password": password}
        return self._send("mt5.account_info", kwargs, queue=self.route(login))

    def login_async(self, login: int, password: str, server: str) -> AsyncResult:
        kwargs = {"login": login, "password": password, "server": server}
        return self._send("mt5.login", kwargs, queue=self.route(login))

    def health_async(self, terminal_id: str | None = None) -> AsyncResult:
        """``mt5.health`` of one terminal (its id), or of whichever worker takes it."""
        return self._send("mt5.health", {}, queue=self._queue_of(terminal_id))

    def pool_stats_async(self, terminal_id: str | None = None) -> AsyncResult:
        return self._send("mt5.pool_stats", {}, queue=self._queue_of(terminal_id))

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

    def health(self, terminal_id: str | None = None, *, timeout: float = 30) -> dict[str, Any]:
        result: dict[str, Any] = self.health_async(terminal_id).get(timeout=timeout)
        return result

    def pool_stats(self, terminal_id: str | None = None, *, timeout: float = 30) -> dict[str, Any]:
        result: dict[str, Any] = self.pool_stats_async(terminal_id).get(timeout=timeout)
        return result

    def pool_stats_all(self, *, timeout: float = 30) -> list[dict[str, Any]]:
        """``mt5.pool_stats`` of every live worker."""
        pending = [self.pool_stats_async(w) for w in self.workers()]
        return [r.get(timeout=timeout) for r in pending]

    # --- routing ----------------------------------------------------------------------------------

    def workers(self) -> list[str]:
        """Terminal ids of the live workers (heartbeat within their 3 x ``MT5_HEARTBEAT_INTERVAL``)."""
        self.router.refresh()
        return sorted(self.router.live())

    def route(self, login: int) -> str | None:
        """The queue for ``login``'s requests: its terminal's own queue, else ``None`` (the shared queue)."""
        if not isinstance(login, int) or isinstance(login, bool):
            return None  # the worker rejects it with a clear error; do not guess a route
        return self.router.queue_for(login)

    def close(self) -> None:
        for client in {id(c): c for c in [self._redis, *self._probes]}.values():
            client.close()

    @staticmethod
    def _queue_of(terminal_id: str | None) -> str | None:
        return terminal_queue_name(terminal_id) if terminal_id else None

    def _wait_for_redis(self) -> None:
        """Return once the broker and result Redis answer a PING; after ``MT5_PUBLISH_TIMEOUT`` seconds of not
        answering, raise ``OperationalError`` (what Celery raises when it cannot publish).

        Why: with Redis down, Celery's client blocks each send about 20 s (re-subscribing to the result channel,
        one send at a time) and then raises ``RuntimeError``. This bounds the wait and keeps the error clear.
        """
        deadline = time.monotonic() + self.settings.publish_timeout
        while True:
            try:
                for client in self._probes:
                    client.ping()
                return
            except REDIS_DOWN as exc:
                if time.monotonic() >= deadline:
                    raise OperationalError(f"Redis unreachable, task not sent: {exc}") from None
                time.sleep(0.2)

    def _send(self, name: str, kwargs: dict[str, Any], queue: str | None) -> AsyncResult:
        self._wait_for_redis()
        kwargs = seal_credentials(kwargs, self.settings)  # passwords encrypted when MT5_CREDENTIALS_KEY is set
        options: dict[str, Any] = {"kwargsrepr": repr(redact(kwargs))}
        # Always explicit, so the Celery router (which would read the registry again) is skipped; "mt5" is
        # the shared queue any worker takes.
        options["queue"] = queue or "mt5"
        return self.app.send_task(name, kwargs=kwargs, **options)


_default: MT5Client | None = None


def default_client() -> MT5Client:
    global _default
    if _default is None:
        _default = MT5Client()
    return _default


def account_info(login: int, server: str | None = None, password: str | None = None) -> AsyncResult:
    """Enqueue ``mt5.account_info`` for ``login`` on its terminal; ``.get()`` the ``AccountInfo`` dict."""
    return default_client().account_info_async(login, server, password)


def login(login: int, password: str, server: str) -> AsyncResult:
    """Enqueue ``mt5.login``; ``.get()`` the session info (never the password)."""
    return default_client().login_async(login, password, server)


def health(terminal_id: str | None = None) -> AsyncResult:
    return default_client().health_async(terminal_id)


def pool_stats(terminal_id: str | None = None) -> AsyncResult:
    return default_client().pool_stats_async(terminal_id)


def workers() -> list[str]:
    """Terminal ids of the live workers."""
    return default_client().workers()
