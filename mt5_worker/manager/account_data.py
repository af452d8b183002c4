"""Typed account reads of one account through its manager: positions, orders, history, margin and profit
calculations, ``order_check``; answered as JSON-ready records like :mod:`~mt5_worker.manager.market_data`.

Arguments are validated first (:mod:`~mt5_worker.manager.market_requests`): tickets positive integers, group masks,
ISO 8601 or epoch dates in order, order types and trade actions by the SDK's integers or lower-case names without
prefix (``"buy"``, ``"sell_limit"``; ``"deal"``, ``"pending"``). The port gets what the SDK takes.
"""

from __future__ import annotations

from typing import Any

from mt5_worker.errors import InvalidRequestError
from mt5_worker.manager import market_requests as req
from mt5_worker.manager.connection_manager import MT5ConnectionManager
from mt5_worker.manager.market_data import record


class AccountData:
    """Account reads for any account of one terminal. ``max_rows`` is ``MT5_MAX_ROWS`` (history length)."""

    def __init__(self, manager: MT5ConnectionManager, max_rows: int) -> None:
        self.manager = manager
        self.max_rows = max_rows

    def positions(self, login: Any, *, symbol: Any = None, group: Any = None, ticket: Any = None,
                  **account: Any) -> list[dict[str, Any]]:  # fmt: skip
        """``positions_get``: all, or by one of ``symbol``, ``group`` (mask) or ``ticket``."""
        filters = req.one_filter(symbol=symbol, group=group, ticket=ticket)
        return [record(p) for p in self.manager.run(login, "positions_get", **filters, **account)]

    def orders(self, login: Any, *, symbol: Any = None, group: Any = None, ticket: Any = None,
               **account: Any) -> list[dict[str, Any]]:  # fmt: skip
        """``orders_get``: the pending orders, all or by one of ``symbol``, ``group`` or ``ticket``."""
        filters = req.one_filter(symbol=symbol, group=group, ticket=ticket)
        return [record(o) for o in self.manager.run(login, "orders_get", **filters, **account)]

    def history_deals(self, login: Any, *, date_from: Any = None, date_to: Any = None, group: Any = None,
                      ticket: Any = None, position: Any = None, **account: Any) -> list[dict[str, Any]]:  # fmt: skip
        """``history_deals_get``: by ``date_from`` + ``date_to`` (and ``group``), ``ticket`` or ``position``."""
        return self._history(login, "history_deals_get", date_from, date_to, group, ticket, position, account)

    def history_orders(self, login: Any, *, date_from: Any = None, date_to: Any = None, group: Any = None,
                       ticket: Any = None, position: Any = None, **account: Any) -> list[dict[str, Any]]:  # fmt: skip
        """``history_orders_get``: by ``date_from`` + ``date_to`` (and ``group``), ``ticket`` or ``position``."""
        return self._history(login, "history_orders_get", date_from, date_to, group, ticket, position, account)

    def order_calc_margin(self, login: Any, action: Any, symbol: Any, volume: Any, price: Any,
                          **account: Any) -> float:  # fmt: skip
        """The margin ``volume`` lots of ``symbol`` at ``price`` take, in the account's currency."""
        args = (req.named(action, req.ORDER_TYPES, "action"), req.symbol(symbol),
                req.number(volume, "volume", positive=True), req.number(price, "price", positive=True))  # fmt: skip
        return float(self.manager.run(login, "order_calc_margin", *args, **account))

    def order_calc_profit(self, login: Any, action: Any, symbol: Any, volume: Any, price_open: Any,
                          price_close: Any, **account: Any) -> float:  # fmt: skip
        """The profit of a buy or sell of ``volume`` lots from ``price_open`` to ``price_close``, account currency."""
        kind = req.named(action, req.ORDER_TYPES, "action")
        if kind > 1:
            raise InvalidRequestError("invalid action: buy or sell")
        args = (kind, req.symbol(symbol), req.number(volume, "volume", positive=True),
                req.number(price_open, "price_open", positive=True),
                req.number(price_close, "price_close", positive=True))  # fmt: skip
        return float(self.manager.run(login, "order_calc_profit", *args, **account))

    def order_check(self, login: Any, request: Any, **account: Any) -> dict[str, Any]:
        """``order_check``: the ``OrderCheckResult`` (``retcode`` 0 when the request would be accepted)."""
        result = self.manager.run(login, "order_check", req.trade_request(request), **account)
        return record(result) | {"request": record(result.request)}

    def _history(self, login: Any, function: str, date_from: Any, date_to: Any, group: Any, ticket: Any,
                 position: Any, account: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
        form = req.history(date_from=date_from, date_to=date_to, group=group, ticket_=ticket, position=position)
        found = self.manager.run(login, function, *form.args, **form.kwargs, **account)
        if len(found) > self.max_rows:
            raise InvalidRequestError(
                f"the range holds {len(found)} records, more than MT5_MAX_ROWS ({self.max_rows}): narrow it"
            )
        return [record(item) for item in found]
