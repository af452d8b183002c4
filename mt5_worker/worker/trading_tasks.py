"""The trading tasks: ``mt5.order_send`` (at most once per idempotency key), the desk's calls made of it
(``mt5.close_position``, ``mt5.close_positions``, ``mt5.modify_position``, ``mt5.cancel_order``: each at most once
per key too, :mod:`~mt5_worker.manager.desk_calls`) and ``mt5.order_result``.

Both refuse at once, touching nothing, unless ``MT5_TRADING_ENABLED=true``. ``mt5.order_send`` is retried by
Celery's autoretry like every task, but each attempt goes through the order's idempotency record
(:class:`~mt5_worker.fleet.order_desk.OrderDesk`): an attempt after a failure that may have sent the order
reconciles it with the account first, so a retry never sends it blindly. ``mt5.order_check`` (the dry run) is a
read and stays with the read tasks.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from mt5_worker.credentials import open_credential
from mt5_worker.errors import TradingDisabledError
from mt5_worker.manager import desk_calls, order_intents
from mt5_worker.manager import market_requests as req
from mt5_worker.manager.order_intents import OrderIntent, prepare
from mt5_worker.worker.runtime import get_runtime
from mt5_worker.worker.tasks import RETRYING, attempt_of, declared, recorded

TRADING_OFF = (
    "trading is disabled on this worker: set MT5_TRADING_ENABLED=true in its environment to allow mt5.order_send "
    "(mt5.order_check, the dry run, works without it)"
)


def _require_trading() -> None:
    if not get_runtime().settings.trading_enabled:
        raise TradingDisabledError(TRADING_OFF)


@declared("mt5.order_send", **RETRYING)
def order_send(
    self: Task, login: int, request: dict[str, Any], idempotency_key: str, password: str | None = None,
    server: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    _require_trading()
    return _send(self, prepare(login, request, idempotency_key), password, server)  # checked before anything


@declared("mt5.close_position", **RETRYING)
def close_position(
    self: Task, login: int, ticket: int, idempotency_key: str, volume: float | None = None, deviation: int = 20,
    password: str | None = None, server: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    _require_trading()
    return _send(self, desk_calls.close_position(login, ticket, idempotency_key, volume, deviation), password, server)


@declared("mt5.close_positions", **RETRYING)
def close_positions(
    self: Task, login: int, idempotency_key: str, symbol: str | None = None, magic: int | None = None,
    password: str | None = None, server: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    _require_trading()
    batch = desk_calls.batch(login, idempotency_key, symbol, magic)
    rt = get_runtime()
    password = open_credential(password, rt.settings)
    answer = rt.desk.close_positions(batch, _task_id(self), password=password, server=server, attempt=attempt_of(self))
    return recorded(batch.login, answer)


@declared("mt5.modify_position", **RETRYING)
def modify_position(
    self: Task, login: int, ticket: int, sl: float, tp: float, idempotency_key: str, password: str | None = None,
    server: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    _require_trading()
    return _send(self, desk_calls.modify_position(login, ticket, sl, tp, idempotency_key), password, server)


@declared("mt5.cancel_order", **RETRYING)
def cancel_order(
    self: Task, login: int, ticket: int, idempotency_key: str, password: str | None = None, server: str | None = None
) -> dict[str, Any]:
    _require_trading()
    return _send(self, desk_calls.cancel_order(login, ticket, idempotency_key), password, server)


def _send(self: Task, intent: OrderIntent, password: str | None, server: str | None) -> dict[str, Any]:
    """``intent`` through the order desk: at most once per key, the outcome recorded and announced."""
    rt = get_runtime()
    password = open_credential(password, rt.settings)
    answer = rt.desk.send(intent, _task_id(self), password=password, server=server, attempt=attempt_of(self))
    return recorded(intent.login, answer)


def _task_id(self: Task) -> str:
    return str(self.request.id or f"local-{id(self)}")


@declared("mt5.order_result", bind=True)
def order_result(self: Task, login: int, idempotency_key: str) -> dict[str, Any]:
    # A pending order is one whose outcome a worker is still establishing: sending the same request with the same
    # key again has it reconciled.
    _require_trading()
    account, key = req.ticket(login, "login"), order_intents.idempotency_key(idempotency_key)
    found = get_runtime().desk.result(account, key)
    return found if found is not None else {"idempotency_key": key, "login": account, "state": "none", "result": None}
