"""The tasks other services call, by these exact names: ``mt5.login``, ``mt5.account_info``, the market reads
(``mt5.symbols``, ``mt5.symbol_info``, ``mt5.symbol_tick``, ``mt5.rates``, ``mt5.ticks``, ``mt5.market_book``),
the account reads (``mt5.positions``, ``mt5.orders``, ``mt5.history_deals``, ``mt5.history_orders``,
``mt5.order_calc_margin``, ``mt5.order_calc_profit``, ``mt5.order_check``), ``mt5.health``, ``mt5.pool_stats``,
``mt5.evict_idle``.

Transient MT5 failures are retried by Celery's autoretry with the configured backoff (1, 2, 4 s by default):
the retry waits in the broker, so the single worker process serves other accounts meanwhile. Permanent
failures (refused credentials, invalid arguments) fail at once. Results are JSON and hold no password; logs,
events and ``celery inspect`` show the arguments redacted (:mod:`mt5_worker.worker.redaction`).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any, TypeVar

from celery import Task

from mt5_worker.credentials import open_credential
from mt5_worker.errors import PermanentMT5Error, TransientMT5Error
from mt5_worker.manager.retry import RetryPolicy
from mt5_worker.worker.app import app
from mt5_worker.worker.redaction import redacted_args_repr as redacted_args_repr  # re-exported
from mt5_worker.worker.runtime import get_runtime
from mt5_worker.worker.settings import worker_settings

T = TypeVar("T")
_policy = RetryPolicy.from_settings(worker_settings())
# Every task's base is the app's RedactingTask (mt5_worker.worker.app): its arguments are shown redacted everywhere.
RETRYING: dict[str, Any] = {
    "bind": True,
    "autoretry_for": (TransientMT5Error,),
    "throws": (PermanentMT5Error,),  # expected failures: logged without a traceback
    "Strategy": "mt5_worker.worker.batching:strategy",  # account-batched serving (MT5_BATCH_WINDOW)
    **_policy.celery_options(),
}


def attempt_of(task: Task) -> int:
    """Which attempt of the request this is (1 = the first; Celery's retries count the others)."""
    return int(task.request.retries) + 1


@app.task(name="mt5.login", **RETRYING)
def login(self: Task, login: int, password: str, server: str) -> dict[str, Any]:
    """Log ``login`` in (or switch to its pooled session): session info, never the password."""
    rt = get_runtime()
    password = open_credential(password, rt.settings)  # before anything touches the terminal
    info = rt.manager.login(login, password, server, attempt=attempt_of(self))
    rt.record(info)
    return asdict(info)


@app.task(name="mt5.account_info", **RETRYING)
def account_info(self: Task, login: int, server: str | None = None, password: str | None = None) -> dict[str, Any]:
    """The account's ``AccountInfo`` fields. ``password``/``server`` may be omitted for a pooled session."""
    rt = get_runtime()
    password = open_credential(password, rt.settings)  # before anything touches the terminal
    info = rt.manager.get_account_info(login, password, server, attempt=attempt_of(self))
    rt.record(rt.manager.session(info.login))
    return info._asdict()


def _account(self: Task, password: str | None, server: str | None) -> dict[str, Any]:
    """The keyword arguments that name an account's credentials, the password opened (MT5_CREDENTIALS_KEY)."""
    rt = get_runtime()
    return {"password": open_credential(password, rt.settings), "server": server, "attempt": attempt_of(self)}


def recorded(login: Any, answer: T) -> T:
    """``answer``, after writing the session's last use (the idle sweep reads it)."""
    rt = get_runtime()
    rt.record(rt.manager.session(login) if isinstance(login, int) else None)
    return answer


@app.task(name="mt5.symbols", **RETRYING)
def symbols(
    self: Task, login: int, group: str | None = None, password: str | None = None, server: str | None = None
) -> list[dict[str, Any]]:
    """``SymbolInfo`` records of the symbols (matching ``group``: ``"*USD*,!*JPY*"``)."""
    return recorded(login, get_runtime().market.symbols(login, group, **_account(self, password, server)))


@app.task(name="mt5.symbol_info", **RETRYING)
def symbol_info(
    self: Task, login: int, symbol: str, password: str | None = None, server: str | None = None
) -> dict[str, Any]:
    """The symbol's ``SymbolInfo`` record."""
    return recorded(login, get_runtime().market.symbol_info(login, symbol, **_account(self, password, server)))


@app.task(name="mt5.symbol_tick", **RETRYING)
def symbol_tick(
    self: Task, login: int, symbol: str, password: str | None = None, server: str | None = None
) -> dict[str, Any]:
    """The symbol's last ``Tick`` (``symbol_info_tick``)."""
    return recorded(login, get_runtime().market.symbol_tick(login, symbol, **_account(self, password, server)))


@app.task(name="mt5.rates", **RETRYING)
def rates(
    self: Task,
    login: int,
    symbol: str,
    timeframe: str | int,
    start_pos: int | None = None,
    date_from: str | int | None = None,
    date_to: str | int | None = None,
    count: int | None = None,
    password: str | None = None,
    server: str | None = None,
) -> dict[str, list[Any]]:
    """Bars column-wise; the SDK's forms: start_pos + count, date_from + count, date_from + date_to."""
    market = get_runtime().market
    bars = market.rates(login, symbol, timeframe, start_pos=start_pos, date_from=date_from, date_to=date_to,
                        count=count, **_account(self, password, server))  # fmt: skip
    return recorded(login, bars)


@app.task(name="mt5.ticks", **RETRYING)
def ticks(
    self: Task,
    login: int,
    symbol: str,
    date_from: str | int | None = None,
    date_to: str | int | None = None,
    count: int | None = None,
    flags: str | int = "all",
    password: str | None = None,
    server: str | None = None,
) -> dict[str, list[Any]]:
    """Ticks column-wise; date_from + count, or date_from + date_to; flags all, info or trade."""
    market = get_runtime().market
    found = market.ticks(login, symbol, date_from=date_from, date_to=date_to, count=count, flags=flags,
                         **_account(self, password, server))  # fmt: skip
    return recorded(login, found)


@app.task(name="mt5.market_book", **RETRYING)
def market_book(
    self: Task, login: int, symbol: str, password: str | None = None, server: str | None = None
) -> list[dict[str, Any]]:
    """The symbol's depth of market: ``BookInfo`` records."""
    return recorded(login, get_runtime().market.market_book(login, symbol, **_account(self, password, server)))


@app.task(name="mt5.positions", **RETRYING)
def positions(
    self: Task, login: int, symbol: str | None = None, group: str | None = None, ticket: int | None = None,
    password: str | None = None, server: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Open positions (``TradePosition`` records), all or by one of symbol, group or ticket."""
    found = get_runtime().account.positions(login, symbol=symbol, group=group, ticket=ticket,
                                            **_account(self, password, server))  # fmt: skip
    return recorded(login, found)


@app.task(name="mt5.orders", **RETRYING)
def orders(
    self: Task, login: int, symbol: str | None = None, group: str | None = None, ticket: int | None = None,
    password: str | None = None, server: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Pending orders (``TradeOrder`` records), all or by one of symbol, group or ticket."""
    found = get_runtime().account.orders(login, symbol=symbol, group=group, ticket=ticket,
                                         **_account(self, password, server))  # fmt: skip
    return recorded(login, found)


@app.task(name="mt5.history_deals", **RETRYING)
def history_deals(
    self: Task, login: int, date_from: str | int | None = None, date_to: str | int | None = None,
    group: str | None = None, ticket: int | None = None, position: int | None = None,
    password: str | None = None, server: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """``TradeDeal`` records: date_from + date_to (and group), ticket, or position."""
    found = get_runtime().account.history_deals(login, date_from=date_from, date_to=date_to, group=group,
                                                ticket=ticket, position=position,
                                                **_account(self, password, server))  # fmt: skip
    return recorded(login, found)


@app.task(name="mt5.history_orders", **RETRYING)
def history_orders(
    self: Task, login: int, date_from: str | int | None = None, date_to: str | int | None = None,
    group: str | None = None, ticket: int | None = None, position: int | None = None,
    password: str | None = None, server: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Historical ``TradeOrder`` records: date_from + date_to (and group), ticket, or position."""
    found = get_runtime().account.history_orders(login, date_from=date_from, date_to=date_to, group=group,
                                                 ticket=ticket, position=position,
                                                 **_account(self, password, server))  # fmt: skip
    return recorded(login, found)


@app.task(name="mt5.order_calc_margin", **RETRYING)
def order_calc_margin(
    self: Task, login: int, action: str | int, symbol: str, volume: float, price: float,
    password: str | None = None, server: str | None = None,
) -> float:  # fmt: skip
    """The margin of an order, in the account's currency."""
    found = get_runtime().account.order_calc_margin(login, action, symbol, volume, price,
                                                    **_account(self, password, server))  # fmt: skip
    return recorded(login, found)


@app.task(name="mt5.order_calc_profit", **RETRYING)
def order_calc_profit(
    self: Task, login: int, action: str | int, symbol: str, volume: float, price_open: float, price_close: float,
    password: str | None = None, server: str | None = None,
) -> float:  # fmt: skip
    """The profit of a buy or sell between two prices, in the account's currency."""
    found = get_runtime().account.order_calc_profit(login, action, symbol, volume, price_open, price_close,
                                                    **_account(self, password, server))  # fmt: skip
    return recorded(login, found)


@app.task(name="mt5.order_check", **RETRYING)
def order_check(
    self: Task, login: int, request: dict[str, Any], password: str | None = None, server: str | None = None
) -> dict[str, Any]:
    """The ``OrderCheckResult`` of a trade request (retcode 0 when it would be accepted); nothing is sent."""
    return recorded(login, get_runtime().account.order_check(login, request, **_account(self, password, server)))


@app.task(name="mt5.health")
def health() -> dict[str, Any]:
    """Whether this worker's terminal is initialized and connected, its info and version, the backend."""
    rt = get_runtime()
    return asdict(rt.manager.health()) | {"worker_id": rt.worker_id, "pid": os.getpid()}


@app.task(name="mt5.pool_stats")
def pool_stats() -> dict[str, Any]:
    """The manager's metrics snapshot, its pool, and the sessions Redis knows for this worker."""
    return get_runtime().stats()


@app.task(name="mt5.evict_idle")
def evict_idle() -> list[int]:
    """Log out this worker's sessions idle past ``MT5_CONNECTION_IDLE_TIMEOUT``; the terminal stays up."""
    return get_runtime().sweep()
