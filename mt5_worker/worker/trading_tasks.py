"""The trading tasks: ``mt5.order_send`` (at most once per idempotency key) and ``mt5.order_result``.

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
from mt5_worker.manager import market_requests as req
from mt5_worker.manager import order_intents
from mt5_worker.manager.order_intents import prepare
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
    intent = prepare(login, request, idempotency_key)  # before anything touches Redis or the terminal
    rt = get_runtime()
    password = open_credential(password, rt.settings)
    task_id = str(self.request.id or f"local-{id(self)}")
    answer = rt.desk.send(intent, task_id, password=password, server=server, attempt=attempt_of(self))
    return recorded(intent.login, answer)


@declared("mt5.order_result", bind=True)
def order_result(self: Task, login: int, idempotency_key: str) -> dict[str, Any]:
    # A pending order is one whose outcome a worker is still establishing: sending the same request with the same
    # key again has it reconciled.
    _require_trading()
    account, key = req.ticket(login, "login"), order_intents.idempotency_key(idempotency_key)
    found = get_runtime().desk.result(account, key)
    return found if found is not None else {"idempotency_key": key, "login": account, "state": "none", "result": None}
