"""What callers use to enqueue the ``mt5.*`` tasks from a thread: :class:`MT5Client`.

Two shapes of the same API:
- ``submit_*`` methods (and module functions of the same names) publish the task and return its Celery
  ``AsyncResult`` at once, like ``Task.delay``;
- plain methods (``account_info``, ``login``, ``health``, ``pool_stats``) wait and return the JSON result,
  raising the task's typed error (``AuthorizationError``, ... with its MT5 code and message) on failure.

For ``async def`` code use :class:`mt5_worker.client.async_client.AsyncMT5Client`, which never blocks the event loop.

Routing: an account's requests go to the worker its login hashes to (rendezvous hashing over the live
workers in the registry, :mod:`mt5_worker.fleet.routing`), so each account sticks to one terminal. With no worker
registered they go to the shared ``mt5`` queue. Passwords travel only in the task message body (encrypted when
``MT5_CREDENTIALS_KEY`` is set); the ``kwargsrepr`` that Celery logs and sends to Flower shows them redacted.

Every message expires: a request a worker has not started within the caller's timeout (by default
``MT5_REQUEST_TIMEOUT``) is dropped unserved, because nobody is waiting for its answer any more.
"""

from __future__ import annotations

import math
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from mt5_worker.client import market
from mt5_worker.client.streaming import Streams
from mt5_worker.credentials import seal_credentials
from mt5_worker.fleet.routing import ORDERED_TASKS, ROUTED_TASKS, AffinityRouter, terminal_queue_name
from mt5_worker.fleet.sessions import connect
from mt5_worker.logging import redact
from mt5_worker.settings import SHARED_QUEUE, Settings

RETRY_INTERVAL = 0.2  # seconds between publish attempts while the broker is unreachable


def publish_retry_policy(publish_timeout: float) -> dict[str, float]:
    """kombu's retry policy that keeps retrying a publish for about ``publish_timeout`` seconds.

    Used for the broker publish and for the Redis result backend's subscription (``celeryconfig``): without
    it the backend retries for about 20 s per send while Redis is down."""
    return {
        "max_retries": math.ceil(publish_timeout / RETRY_INTERVAL),
        "interval_start": 0,
        "interval_step": RETRY_INTERVAL,
        "interval_max": RETRY_INTERVAL,
    }


class MT5Client(Streams):
    """Enqueue mt5 tasks from a web app (or anything else), routed by account affinity.

    >>> client = MT5Client()  # settings from the environment / .env
    >>> client.account_info(10000001, "MetaQuotes-Demo", "demo-10000001")["login"]
    10000001
    >>> pending = client.submit_account_info(10000001)  # AsyncResult; pooled session: no password needed
    >>> pending.get(timeout=30)["login"]
    10000001
    """

    def __init__(self, app: Celery | None = None, settings: Settings | None = None) -> None:
        if app is None:
            from mt5_worker.worker.app import app as default_app

            app = default_app
        self.app = app
        self.settings = settings if settings is not None else Settings.load()
        self._redis = connect(self.settings.session_store_url)
        self.router = AffinityRouter.from_settings(self.settings, self._redis)
        self._retry_policy = publish_retry_policy(self.settings.publish_timeout)
        _bound_result_backend_retries(app, self._retry_policy)

    # --- submit: publish and return the AsyncResult ------------------------------------------------

    def submit(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        terminal_id: str | None = None,
        expires: float | None = None,
        task_id: str | None = None,
    ) -> AsyncResult:
        """Publish task ``name`` with ``kwargs``; any ``mt5.*`` task, including ones added after this client.

        Account tasks (those with a ``login``) go to their account's terminal; others to ``terminal_id``'s
        queue if given, else to any worker. ``expires`` (seconds, default ``MT5_REQUEST_TIMEOUT``): a worker
        that receives the request later drops it. Raises ``OperationalError`` when the broker stays
        unreachable for ``MT5_PUBLISH_TIMEOUT`` seconds (nothing was sent).
        """
        kwargs = dict(kwargs or {})
        if name in ROUTED_TASKS or "login" in kwargs:
            queue = self.route(kwargs.get("login"), ordered=name in ORDERED_TASKS)
        else:
            queue = self._queue_of(terminal_id)
        return self._send(name, kwargs, queue, self.settings.request_timeout if expires is None else expires, task_id)

    def submit_account_info(
        self, login: int, server: str | None = None, password: str | None = None, *, expires: float | None = None
    ) -> AsyncResult:
        """``mt5.account_info``; ``.get()`` gives the ``AccountInfo`` fields."""
        kwargs = {"login": login, "server": server, "password": password}
        return self.submit("mt5.account_info", kwargs, expires=expires)

    def submit_login(self, login: int, password: str, server: str, *, expires: float | None = None) -> AsyncResult:
        """``mt5.login``; ``.get()`` gives the session info (never the password)."""
        return self.submit("mt5.login", {"login": login, "password": password, "server": server}, expires=expires)

    def submit_health(self, terminal_id: str | None = None, *, expires: float | None = None) -> AsyncResult:
        """``mt5.health`` of one terminal (its id), or of whichever worker takes it."""
        return self.submit("mt5.health", terminal_id=terminal_id, expires=expires)

    def submit_pool_stats(self, terminal_id: str | None = None, *, expires: float | None = None) -> AsyncResult:
        """``mt5.pool_stats`` of one terminal (its id), or of whichever worker takes it."""
        return self.submit("mt5.pool_stats", terminal_id=terminal_id, expires=expires)

    # --- wait for the result ----------------------------------------------------------------------

    def call(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        terminal_id: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Run task ``name`` and return its result; raises its typed error, or Celery's ``TimeoutError``
        after ``timeout`` seconds (default ``MT5_REQUEST_TIMEOUT``; the request expires then too)."""
        timeout = self.settings.request_timeout if timeout is None else timeout
        pending = self.submit(name, kwargs, terminal_id=terminal_id, expires=timeout)
        try:
            return pending.get(timeout=timeout)
        finally:
            # Celery keeps a result it timed out on as pending until interpreter exit; let it go now.
            pending.backend.remove_pending_result(pending)

    def account_info(
        self, login: int, server: str | None = None, password: str | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """The account's ``AccountInfo`` fields; ``password``/``server`` may be omitted for a pooled session."""
        result: dict[str, Any] = self.call(
            "mt5.account_info", {"login": login, "server": server, "password": password}, timeout=timeout
        )
        return result

    def login(self, login: int, password: str, server: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Log ``login`` in (or switch to its pooled session); the session info, never the password."""
        result: dict[str, Any] = self.call(
            "mt5.login", {"login": login, "password": password, "server": server}, timeout=timeout
        )
        return result

    def health(self, terminal_id: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """Whether a worker's terminal is initialized and connected."""
        result: dict[str, Any] = self.call("mt5.health", terminal_id=terminal_id, timeout=timeout)
        return result

    def pool_stats(self, terminal_id: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """A worker's pool metrics and the sessions Redis knows for it."""
        result: dict[str, Any] = self.call("mt5.pool_stats", terminal_id=terminal_id, timeout=timeout)
        return result

    def pool_stats_all(self, *, timeout: float | None = None) -> list[dict[str, Any]]:
        """``mt5.pool_stats`` of every live worker."""
        timeout = self.settings.request_timeout if timeout is None else timeout
        pending = [self.submit_pool_stats(w, expires=timeout) for w in self.workers()]
        return [r.get(timeout=timeout) for r in pending]

    # --- market data (each waits like account_info; see mt5_worker.client.market) -----------------

    def symbols(
        self, login: int, group: str | None = None, *, password: str | None = None, server: str | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """``SymbolInfo`` records of the account's symbols, those matching ``group`` (``"*USD*,!*JPY*"``) if given."""
        result: list[dict[str, Any]] = self.call(*market.symbols(login, group, password, server), timeout=timeout)
        return result

    def symbol_info(
        self, login: int, symbol: str, *, password: str | None = None, server: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The symbol's ``SymbolInfo`` record."""
        result: dict[str, Any] = self.call(*market.symbol_info(login, symbol, password, server), timeout=timeout)
        return result

    def symbol_tick(
        self, login: int, symbol: str, *, password: str | None = None, server: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The symbol's last ``Tick``."""
        result: dict[str, Any] = self.call(*market.symbol_tick(login, symbol, password, server), timeout=timeout)
        return result

    def rates(
        self, login: int, symbol: str, timeframe: str | int, *, start_pos: int | None = None,
        date_from: market.Date | None = None, date_to: market.Date | None = None, count: int | None = None,
        password: str | None = None, server: str | None = None, timeout: float | None = None,
    ) -> dict[str, list[Any]]:  # fmt: skip
        """Bars, column-wise: ``start_pos`` + ``count``, ``date_from`` + ``count``, or ``date_from`` + ``date_to``."""
        request = market.rates(login, symbol, timeframe, start_pos, date_from, date_to, count, password, server)
        result: dict[str, list[Any]] = self.call(*request, timeout=timeout)
        return result

    def ticks(
        self, login: int, symbol: str, date_from: market.Date, *, date_to: market.Date | None = None,
        count: int | None = None, flags: str = "all", password: str | None = None, server: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, list[Any]]:  # fmt: skip
        """Ticks, column-wise: ``date_from`` + ``count`` or ``date_from`` + ``date_to``; flags all, info, trade."""
        request = market.ticks(login, symbol, date_from, date_to, count, flags, password, server)
        result: dict[str, list[Any]] = self.call(*request, timeout=timeout)
        return result

    def market_book(
        self, login: int, symbol: str, *, password: str | None = None, server: str | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The symbol's depth of market: ``BookInfo`` records."""
        result: list[dict[str, Any]] = self.call(*market.market_book(login, symbol, password, server), timeout=timeout)
        return result

    # --- account reads (each waits like account_info; see mt5_worker.client.market) ---------------

    def positions(
        self, login: int, *, symbol: str | None = None, group: str | None = None, ticket: int | None = None,
        password: str | None = None, server: str | None = None, timeout: float | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Open positions (``TradePosition`` records), all or by one of ``symbol``, ``group`` or ``ticket``."""
        request = market.positions(login, symbol, group, ticket, password, server)
        result: list[dict[str, Any]] = self.call(*request, timeout=timeout)
        return result

    def orders(
        self, login: int, *, symbol: str | None = None, group: str | None = None, ticket: int | None = None,
        password: str | None = None, server: str | None = None, timeout: float | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Pending orders (``TradeOrder`` records), all or by one of ``symbol``, ``group`` or ``ticket``."""
        request = market.orders(login, symbol, group, ticket, password, server)
        result: list[dict[str, Any]] = self.call(*request, timeout=timeout)
        return result

    def history_deals(
        self, login: int, *, date_from: market.Date | None = None, date_to: market.Date | None = None,
        group: str | None = None, ticket: int | None = None, position: int | None = None,
        password: str | None = None, server: str | None = None, timeout: float | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """``TradeDeal`` records: ``date_from`` + ``date_to`` (and ``group``), ``ticket`` or ``position``."""
        request = market.history("history_deals", login, date_from, date_to, group, ticket, position, password, server)
        result: list[dict[str, Any]] = self.call(*request, timeout=timeout)
        return result

    def history_orders(
        self, login: int, *, date_from: market.Date | None = None, date_to: market.Date | None = None,
        group: str | None = None, ticket: int | None = None, position: int | None = None,
        password: str | None = None, server: str | None = None, timeout: float | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Historical ``TradeOrder`` records: ``date_from`` + ``date_to`` (and ``group``), ``ticket``, ``position``."""
        request = market.history("history_orders", login, date_from, date_to, group, ticket, position, password,
                                 server)  # fmt: skip
        result: list[dict[str, Any]] = self.call(*request, timeout=timeout)
        return result

    def order_calc_margin(
        self, login: int, action: str | int, symbol: str, volume: float, price: float, *,
        password: str | None = None, server: str | None = None, timeout: float | None = None,
    ) -> float:  # fmt: skip
        """The margin of an order (``"buy"``/``"sell"``...), in the account's currency."""
        request = market.order_calc_margin(login, action, symbol, volume, price, password, server)
        result: float = self.call(*request, timeout=timeout)
        return result

    def order_calc_profit(
        self, login: int, action: str | int, symbol: str, volume: float, price_open: float, price_close: float, *,
        password: str | None = None, server: str | None = None, timeout: float | None = None,
    ) -> float:  # fmt: skip
        """The profit of a ``"buy"`` or ``"sell"`` between two prices, in the account's currency."""
        request = market.order_calc_profit(login, action, symbol, volume, price_open, price_close, password, server)
        result: float = self.call(*request, timeout=timeout)
        return result

    def order_check(
        self, login: int, request: dict[str, Any], *, password: str | None = None, server: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The ``OrderCheckResult`` of a trade request (``retcode`` 0 when it would be accepted)."""
        result: dict[str, Any] = self.call(*market.order_check(login, request, password, server), timeout=timeout)
        return result

    def order_send(
        self, login: int, request: dict[str, Any], idempotency_key: str, *, password: str | None = None,
        server: str | None = None, timeout: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Send a trade request at most once per ``(login, idempotency_key)`` (needs ``MT5_TRADING_ENABLED=true`` on
        the workers). The ``OrderSendResult`` fields plus ``idempotency_key`` and ``source`` (``"sent"``,
        ``"recorded"``: an earlier call's outcome, ``"reconciled"``: found in the account after a failure). Any
        server ``retcode`` is an answer (10009 done, 10008 placed). On a timeout or an ``OrderOutcomeUnknownError``,
        call again with the same key: it never sends twice.

        >>> client.order_send(10000001, {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy",
        ...                              "type_filling": "ioc"}, idempotency_key="order-2026-0001")["retcode"]
        10009
        """
        sent = market.order_send(login, request, idempotency_key, password, server)
        result: dict[str, Any] = self.call(*sent, timeout=timeout)
        return result

    def order_result(self, login: int, idempotency_key: str, *, timeout: float | None = None) -> dict[str, Any]:
        """The record of an order's key: ``state`` ``"none"``, ``"pending"`` or ``"done"``, and ``result``."""
        result: dict[str, Any] = self.call(*market.order_result(login, idempotency_key), timeout=timeout)
        return result

    # --- routing ----------------------------------------------------------------------------------

    def workers(self) -> list[str]:
        """Terminal ids of the live workers (heartbeat within their 3 x ``MT5_HEARTBEAT_INTERVAL``)."""
        self.router.refresh()
        return sorted(self.router.live())

    def route(self, login: Any, *, ordered: bool = False) -> str | None:
        """The queue for ``login``'s requests: its terminal's own queue, else ``None`` (the shared queue).
        ``ordered``: its first choice whatever the loads (orders: kept in the order sent)."""
        if not isinstance(login, int) or isinstance(login, bool):
            return None  # the worker rejects it with a clear error; do not guess a route
        return self.router.queue_for(login, ordered=ordered)

    def close(self) -> None:
        self._redis.close()

    @staticmethod
    def _queue_of(terminal_id: str | None) -> str | None:
        return terminal_queue_name(terminal_id) if terminal_id else None

    def _send(
        self, name: str, kwargs: dict[str, Any], queue: str | None, expires: float, task_id: str | None
    ) -> AsyncResult:
        kwargs = seal_credentials(kwargs, self.settings)  # passwords encrypted when MT5_CREDENTIALS_KEY is set
        try:
            return self.app.send_task(
                name,
                kwargs=kwargs,
                task_id=task_id,
                queue=queue or SHARED_QUEUE,  # explicit, so the affinity router in task_routes stays out of it
                expires=expires,
                kwargsrepr=repr(redact(kwargs)),
                argsrepr="()",
                retry=True,
                retry_policy=self._retry_policy,
            )
        except OperationalError as exc:
            raise OperationalError(f"broker {self._unreachable()}: {exc}") from None
        except RuntimeError:  # the Redis result backend gave up re-subscribing: nothing was published
            raise OperationalError(f"result backend {self._unreachable()}") from None

    def _unreachable(self) -> str:
        return f"unreachable for {self.settings.publish_timeout:g} s (MT5_PUBLISH_TIMEOUT), task not sent"


def _bound_result_backend_retries(app: Celery, policy: dict[str, float]) -> None:
    """Let the app's Redis result backend retry its subscription for ``MT5_PUBLISH_TIMEOUT``, not Celery's 20 s.

    Celery subscribes to a task's result channel before publishing it; with Redis down that retries about
    20 s per send, one send at a time. Set on the app's configuration unless it names its own policy, and
    before its backend is first used in a thread (the backend reads it once)."""
    options = dict(app.conf.result_backend_transport_options or {})
    if "retry_policy" not in options:
        app.conf.result_backend_transport_options = options | {"retry_policy": policy}
