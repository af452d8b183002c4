"""The simulated terminal's account side: orders, positions, history, margin and profit, ``order_check``.

A mixin of :class:`~mt5_worker.simulator.terminal.SimulatedTerminal` (which supplies the connection, the call
accounting, the argument parsing and the market). The account's trading is its generated
:class:`~mt5_worker.simulator.ledger.Ledger` merged with what ``order_send`` changed on the simulated trade server
(:meth:`~mt5_worker.simulator.trading_side.TradingSide.book`); ``order_check`` judges a request with the trade
server's own rules (:mod:`~mt5_worker.simulator.trade_rules`). Argument rules and results: docs/sdk-market-data.md,
"Account side", and docs/sdk-trading.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mt5_worker.codes import RES_E_FAIL, RES_E_INVALID_PARAMS, error_tuple
from mt5_worker.simulator.ledger import Ledger, make_ledger, margin, profit
from mt5_worker.simulator.masks import matches
from mt5_worker.simulator.parts import INVALID_ARGUMENT_COUNT, SimulatorParts, seconds
from mt5_worker.simulator.trade_rules import COMMENTS, Verdict, figures, judge
from mt5_worker.simulator.trading_side import mark_all
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import OrderCheckResult, TradeDeal, TradeOrder, TradePosition


class AccountSide(SimulatorParts):
    """``orders_*``, ``positions_*``, ``history_*``, ``order_calc_*`` and ``order_check`` of the simulator."""

    def ledger(self, *, history: bool = True) -> Ledger | None:
        """The active account's generated trading today (``None`` without an authorised account); without
        ``history``, only its open positions and pending orders (what ``account_info`` needs: far cheaper)."""
        market, account = self.market, self._active
        if market is None or account is None:
            return None
        now = self.now_ms()
        key = (account.server, account.login, now // 86_400_000)
        found = self._ledgers.get((*key, True)) or self._ledgers.get((*key, history))
        if found is None:
            if account.trades:
                found = make_ledger(market, account.login, self._market_seed, account.currency, now, history=history)
            else:
                found = Ledger(account.login, (), (), (), ())
            self._ledgers[(*key, history)] = found
        return found

    def orders_total(self, *args: Any, **kwargs: Any) -> int | None:
        with self._call("orders_total"):
            if self._data_arguments("orders_total", args, kwargs) is None:
                return None
            ledger = self._merged()
            return 0 if ledger is None else len(ledger.orders)

    def positions_total(self, *args: Any, **kwargs: Any) -> int | None:
        with self._call("positions_total"):
            if self._data_arguments("positions_total", args, kwargs) is None:
                return None
            ledger = self._merged()
            return 0 if ledger is None else len(ledger.positions)

    def orders_get(self, *args: Any, **kwargs: Any) -> tuple[TradeOrder, ...] | None:
        with self._call("orders_get"):
            if not self._filter_arguments("orders_get", args, kwargs):
                return None
            ledger = self._merged()
            return () if ledger is None else tuple(o for o in ledger.orders if _selected(o.symbol, o.ticket, kwargs))

    def positions_get(self, *args: Any, **kwargs: Any) -> tuple[TradePosition, ...] | None:
        with self._call("positions_get"):
            if not self._filter_arguments("positions_get", args, kwargs):
                return None
            ledger = self._merged()
            if ledger is None:
                return ()
            market, account, now = self.market, self._active, self.now_ms()
            assert market is not None and account is not None
            return mark_all(
                market, account, (p for p in ledger.positions if _selected(p.symbol, p.ticket, kwargs)), now
            )

    def history_orders_total(self, *args: Any, **kwargs: Any) -> int | None:
        with self._call("history_orders_total"):
            found = self._history("history_orders_total", args, kwargs, totals=True)
            return None if found is None else len(found[0])

    def history_deals_total(self, *args: Any, **kwargs: Any) -> int | None:
        with self._call("history_deals_total"):
            found = self._history("history_deals_total", args, kwargs, totals=True)
            return None if found is None else len(found[1])

    def history_orders_get(self, *args: Any, **kwargs: Any) -> tuple[TradeOrder, ...] | None:
        with self._call("history_orders_get"):
            found = self._history("history_orders_get", args, kwargs)
            return None if found is None else self._bulk("history_orders_get", found[0])

    def history_deals_get(self, *args: Any, **kwargs: Any) -> tuple[TradeDeal, ...] | None:
        with self._call("history_deals_get"):
            found = self._history("history_deals_get", args, kwargs)
            return None if found is None else self._bulk("history_deals_get", found[1])

    def order_calc_margin(self, *args: Any, **kwargs: Any) -> float | None:
        with self._call("order_calc_margin"):
            values = self._calc_arguments("order_calc_margin", args, kwargs, ("price",), range(0, 9))
            if values is None:
                return None
            spec, (_, _, volume, price) = values
            assert self._active is not None and self.market is not None
            account = self._active
            return margin(spec, self.market, volume, price, account.leverage, account.currency, self.now_ms())

    def order_calc_profit(self, *args: Any, **kwargs: Any) -> float | None:
        with self._call("order_calc_profit"):
            values = self._calc_arguments(
                "order_calc_profit", args, kwargs, ("price_open", "price_close"), (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL)
            )
            if values is None:
                return None
            spec, (action, _, volume, price_open, price_close) = values
            assert self._active is not None and self.market is not None
            return profit(spec, self.market, action, volume, price_open, price_close, self._active.currency,
                          self.now_ms())  # fmt: skip

    def order_check(self, *args: Any, **kwargs: Any) -> OrderCheckResult | None:
        with self._call("order_check"):
            request = self._trade_request("order_check", args, kwargs)
            if request is None:
                return None
            desk = self.desk()
            assert desk is not None
            verdict = judge(request, desk) if self._algo_trading else Verdict(c.TRADE_RETCODE_CLIENT_DISABLES_AT)
            retcode = c.TRADE_RETCODE_CHECK_OK if verdict.accepted else verdict.retcode
            money = figures(desk, verdict.margin)
            return OrderCheckResult(retcode, money.balance, money.equity, money.profit, money.margin,
                                    money.margin_free, money.margin_level, COMMENTS[retcode], request)  # fmt: skip

    # --- internals ---

    def _filter_arguments(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if self._data_arguments(name, args, kwargs) is None:
            return False
        types: dict[str, object] = {"symbol": str, "group": str, "ticket": int}
        return not self._rejects_arguments(**{k: (v, types[k]) for k, v in kwargs.items()})

    def _history(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, totals: bool = False
    ) -> tuple[tuple[TradeOrder, ...], tuple[TradeDeal, ...]] | None:
        """The history an SDK form selects: ``(date_from, date_to[, group=])``, ``(ticket=)`` or ``(position=)``."""
        if self._data_arguments(name, args, kwargs) is None:
            return None
        by_id = set(kwargs) & {"ticket", "position"}
        dated = len(args) == 2 and not by_id
        if not (dated or (not args and len(by_id) == 1 and "group" not in kwargs)):
            self._error = error_tuple(RES_E_INVALID_PARAMS, INVALID_ARGUMENT_COUNT)
            return None
        checks: dict[str, tuple[object, object]] = {k: (v, str if k == "group" else int) for k, v in kwargs.items()}
        if dated:
            checks |= {"date_from": (args[0], datetime | int), "date_to": (args[1], datetime | int)}
        if self._rejects_arguments(**checks):
            return None
        ledger = self._merged(history=True)
        if ledger is None:
            return (), ()
        if dated:
            lo, hi, group = seconds(args[0]), seconds(args[1]), kwargs.get("group", "")
            orders = tuple(o for o in ledger.history_orders if lo <= o.time_setup <= hi and matches(group, o.symbol))
            deals = tuple(d for d in ledger.deals if lo <= d.time <= hi and matches(group, d.symbol))
        elif "ticket" in kwargs:
            orders = tuple(o for o in ledger.history_orders if o.ticket == kwargs["ticket"])
            deals = tuple(d for d in ledger.deals if d.ticket == kwargs["ticket"])
        else:
            orders = tuple(o for o in ledger.history_orders if o.position_id == kwargs["position"])
            deals = tuple(d for d in ledger.deals if d.position_id == kwargs["position"])
        return orders, deals

    def _calc_arguments(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], prices: tuple[str, ...], actions: Any
    ) -> tuple[Any, list[Any]] | None:
        values = self._data_arguments(name, args, kwargs)
        if values is None:
            return None
        checks: dict[str, tuple[object, object]] = {"action": (values[0], int), "symbol": (values[1], str)}
        checks |= {k: (v, float | int) for k, v in zip(("volume", *prices), values[2:], strict=True)}
        if self._rejects_arguments(**checks):
            return None
        if values[0] not in actions:
            self._invalid("action")
            return None
        market = self.market
        found = None if market is None else market.get(values[1])
        if found is None:
            self._error = error_tuple(RES_E_FAIL)
            return None
        return found.spec, [values[0], values[1], *(float(v) for v in values[2:])]

    def _merged(self, *, history: bool = False) -> Ledger | None:
        found = self.book(history=history)
        return None if found is None else found[0]


def _selected(symbol: str, ticket: int, filters: dict[str, Any]) -> bool:
    """Every given filter holds (``symbol`` exactly, ``group`` by mask, ``ticket`` exactly)."""
    return (
        filters.get("symbol", symbol) == symbol
        and filters.get("ticket", ticket) == ticket
        and matches(filters.get("group", ""), symbol)
    )
