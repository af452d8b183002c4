"""The simulated terminal's account side: orders, positions, history, margin and profit, ``order_check``.

A mixin of :class:`~mt5_worker.terminal.simulator.SimulatedTerminal` (which supplies the connection, the call
accounting, the argument parsing and the market). The account's trading is a
:class:`~mt5_worker.terminal.ledger.Ledger`. Argument rules and results: docs/sdk-market-data.md, "Account side".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from mt5_worker.codes import RES_E_FAIL, RES_E_INVALID_PARAMS, error_tuple
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.ledger import Ledger, make_ledger, margin, profit
from mt5_worker.terminal.market import Market
from mt5_worker.terminal.masks import matches
from mt5_worker.terminal.records import OrderCheckResult, TradeDeal, TradeOrder, TradePosition, TradeRequest
from mt5_worker.terminal.simulator_market import INVALID_ARGUMENT_COUNT, _seconds
from mt5_worker.terminal.specs import AccountSpec

CHECK_COMMENTS = {
    c.TRADE_RETCODE_CHECK_OK: "Done",
    c.TRADE_RETCODE_INVALID: "Invalid request",
    c.TRADE_RETCODE_INVALID_VOLUME: "Invalid volume",
    c.TRADE_RETCODE_INVALID_PRICE: "Invalid price",
    c.TRADE_RETCODE_INVALID_STOPS: "Invalid stops",
    c.TRADE_RETCODE_TRADE_DISABLED: "Trade disabled",
    c.TRADE_RETCODE_MARKET_CLOSED: "Market closed",
    c.TRADE_RETCODE_NO_MONEY: "No money",
    c.TRADE_RETCODE_INVALID_FILL: "Unsupported filling mode",
}
_REQUEST_DEFAULTS = TradeRequest(0, 0, 0, "", 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, "", 0, 0)
_FLOAT_FIELDS = frozenset({"volume", "price", "stoplimit", "sl", "tp"})
_FILTERS = ("symbol", "group", "ticket")
_ACTIONS = frozenset({c.TRADE_ACTION_DEAL, c.TRADE_ACTION_PENDING, c.TRADE_ACTION_SLTP, c.TRADE_ACTION_MODIFY,
                      c.TRADE_ACTION_REMOVE, c.TRADE_ACTION_CLOSE_BY})  # fmt: skip


class AccountSide:
    """``orders_*``, ``positions_*``, ``history_*``, ``order_calc_*`` and ``order_check`` of the simulator."""

    # What SimulatedTerminal supplies (it overrides each of these).
    _active: AccountSpec | None
    _ledgers: dict[tuple[str, int, int], Ledger]
    _market_seed: int
    _latency: dict[str, float]
    _sleep: Callable[[float], None]
    _error: tuple[int, str]

    @property
    def market(self) -> Market | None:
        raise NotImplementedError

    def now_ms(self) -> int:
        raise NotImplementedError

    def _call(self, name: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _data_arguments(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
        *,
        keywords: tuple[str, ...] = (),
    ) -> list[Any] | None:
        raise NotImplementedError

    def _rejects_arguments(self, **arguments: tuple[object, object]) -> bool:
        raise NotImplementedError

    def _invalid(self, argument: str) -> None:
        raise NotImplementedError

    def ledger(self) -> Ledger | None:
        """The active account's trading today (``None`` without an authorised account)."""
        market, account = self.market, self._active
        if market is None or account is None:
            return None
        now = self.now_ms()
        key = (account.server, account.login, now // 86_400_000)
        found = self._ledgers.get(key)
        if found is None:
            empty = not account.trades
            made = make_ledger(market, account.login, self._market_seed, account.currency, now)
            found = self._ledgers[key] = Ledger(account.login, (), (), (), ()) if empty else made
        return found

    def orders_total(self, *args: Any, **kwargs: Any) -> int | None:
        with self._call("orders_total"):
            if self._data_arguments("orders_total", args, kwargs, ()) is None:
                return None
            ledger = self.ledger()
            return 0 if ledger is None else len(ledger.orders)

    def positions_total(self, *args: Any, **kwargs: Any) -> int | None:
        with self._call("positions_total"):
            if self._data_arguments("positions_total", args, kwargs, ()) is None:
                return None
            ledger = self.ledger()
            return 0 if ledger is None else len(ledger.positions)

    def orders_get(self, *args: Any, **kwargs: Any) -> tuple[TradeOrder, ...] | None:
        with self._call("orders_get"):
            if not self._filter_arguments("orders_get", args, kwargs):
                return None
            ledger = self.ledger()
            return () if ledger is None else tuple(o for o in ledger.orders if _selected(o.symbol, o.ticket, kwargs))

    def positions_get(self, *args: Any, **kwargs: Any) -> tuple[TradePosition, ...] | None:
        with self._call("positions_get"):
            if not self._filter_arguments("positions_get", args, kwargs):
                return None
            ledger = self.ledger()
            if ledger is None:
                return ()
            return tuple(self._marked(p) for p in ledger.positions if _selected(p.symbol, p.ticket, kwargs))

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
            return None if found is None else self._bulk_rows("history_orders_get", found[0])

    def history_deals_get(self, *args: Any, **kwargs: Any) -> tuple[TradeDeal, ...] | None:
        with self._call("history_deals_get"):
            found = self._history("history_deals_get", args, kwargs)
            return None if found is None else self._bulk_rows("history_deals_get", found[1])

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
            values = self._data_arguments("order_check", args, kwargs, ("request",))
            if values is None:
                return None
            request = _request(values[0])
            if request is None or self._active is None or self.market is None:
                self._invalid("request") if request is None else self._no_account()
                return None
            return self._check(request)

    # --- internals ---

    def _no_account(self) -> None:
        self._error = error_tuple(RES_E_FAIL)

    def _bulk_rows(self, name: str, rows: tuple[Any, ...]) -> tuple[Any, ...]:
        """History costs its latency again for every ``BULK_ROWS_PER_LATENCY`` records, as bulk copies do."""
        from mt5_worker.terminal.specs import BULK_ROWS_PER_LATENCY

        delay = self._latency.get(name, 0.0) * len(rows) / BULK_ROWS_PER_LATENCY
        if delay:
            self._sleep(delay)
        return rows

    def _filter_arguments(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if self._data_arguments(name, args, kwargs, (), keywords=_FILTERS) is None:
            return False
        types: dict[str, object] = {"symbol": str, "group": str, "ticket": int}
        return not self._rejects_arguments(**{k: (v, types[k]) for k, v in kwargs.items()})

    def _history(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, totals: bool = False
    ) -> tuple[tuple[TradeOrder, ...], tuple[TradeDeal, ...]] | None:
        """The history an SDK form selects: ``(date_from, date_to[, group=])``, ``(ticket=)`` or ``(position=)``."""
        keywords = () if totals else ("group", "ticket", "position")
        if self._data_arguments(name, args, kwargs, (), ("date_from", "date_to"), keywords=keywords) is None:
            return None
        by_id = set(kwargs) & {"ticket", "position"}
        dated = len(args) == 2 and not by_id
        if not (dated or (not args and len(by_id) == 1 and "group" not in kwargs)):
            self._error = error_tuple(RES_E_INVALID_PARAMS, INVALID_ARGUMENT_COUNT)
            return None
        checks: dict[str, tuple[object, object]] = {k: (v, str if k == "group" else int) for k, v in kwargs.items()}
        if dated:
            from datetime import datetime

            checks |= {"date_from": (args[0], datetime | int), "date_to": (args[1], datetime | int)}
        if self._rejects_arguments(**checks):
            return None
        ledger = self.ledger()
        if ledger is None:
            return (), ()
        if dated:
            lo, hi, group = _seconds(args[0]), _seconds(args[1]), kwargs.get("group", "")
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
        values = self._data_arguments(name, args, kwargs, ("action", "symbol", "volume", *prices))
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

    def _marked(self, position: TradePosition) -> TradePosition:
        """A position with its current price and floating profit (Bid closes a buy, Ask a sell)."""
        market, account = self.market, self._active
        assert market is not None and account is not None
        tick = market.tick(position.symbol, self.now_ms())
        found = market.get(position.symbol)
        if tick is None or found is None:
            return position
        price = tick.bid if position.type == c.POSITION_TYPE_BUY else tick.ask
        gain = profit(found.spec, market, position.type, position.volume, position.price_open, price,
                      account.currency, self.now_ms())  # fmt: skip
        return position._replace(price_current=price, profit=gain)

    def _check(self, request: TradeRequest) -> OrderCheckResult:
        market, account = self.market, self._active
        assert market is not None and account is not None
        ledger = self.ledger()
        assert ledger is not None
        now = self.now_ms()
        positions = [self._marked(p) for p in ledger.positions]
        floating = round(sum(p.profit for p in positions), 2)
        equity = (account.balance if account.equity is None else account.equity) + floating
        used = 0.0
        for p in positions:
            spec = market.get(p.symbol)
            if spec is not None:
                used += margin(spec.spec, market, p.volume, p.price_open, account.leverage, account.currency, now)
        retcode, extra = self._retcode(request, ledger, now)
        if retcode == c.TRADE_RETCODE_CHECK_OK and extra and used + extra > equity:
            retcode = c.TRADE_RETCODE_NO_MONEY
        total = round(used + extra, 2)
        level = round(equity / total * 100, 2) if total else 0.0
        return OrderCheckResult(retcode, account.balance, round(equity, 2), floating, total, round(equity - total, 2),
                                level, CHECK_COMMENTS[retcode], request)  # fmt: skip

    def _retcode(self, r: TradeRequest, ledger: Ledger, now: int) -> tuple[int, float]:
        """The check's retcode and the margin the request would take."""
        market, account = self.market, self._active
        assert market is not None and account is not None
        if r.action not in _ACTIONS:
            return c.TRADE_RETCODE_INVALID, 0.0
        if r.action in (c.TRADE_ACTION_SLTP, c.TRADE_ACTION_CLOSE_BY):
            known = {p.ticket for p in ledger.positions}
            return (c.TRADE_RETCODE_CHECK_OK if r.position in known else c.TRADE_RETCODE_INVALID), 0.0
        if r.action in (c.TRADE_ACTION_MODIFY, c.TRADE_ACTION_REMOVE):
            known = {o.ticket for o in ledger.orders}
            return (c.TRADE_RETCODE_CHECK_OK if r.order in known else c.TRADE_RETCODE_INVALID), 0.0
        found = market.get(r.symbol)
        market_kinds = (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL)
        kinds = market_kinds if r.action == c.TRADE_ACTION_DEAL else range(2, 8)
        if found is None or r.type not in kinds:
            return c.TRADE_RETCODE_INVALID, 0.0
        spec = found.spec
        if spec.trade_mode == c.SYMBOL_TRADE_MODE_DISABLED:
            return c.TRADE_RETCODE_TRADE_DISABLED, 0.0
        steps = (r.volume - spec.volume_min) / spec.volume_step
        if not spec.volume_min <= r.volume <= spec.volume_max or abs(steps - round(steps)) > 1e-7:
            return c.TRADE_RETCODE_INVALID_VOLUME, 0.0
        if r.action == c.TRADE_ACTION_DEAL and not _filling_allowed(spec.filling_mode, spec.exemode, r.type_filling):
            return c.TRADE_RETCODE_INVALID_FILL, 0.0
        tick = market.tick(spec.name, now)
        if tick is None or not bool(found.calendar.is_open(now // 3_600_000)):
            return c.TRADE_RETCODE_MARKET_CLOSED, 0.0
        buy = r.type % 2 == 0
        price = r.price if r.action == c.TRADE_ACTION_PENDING else (tick.ask if buy else tick.bid)
        if r.price < 0 or not math.isfinite(r.price) or (r.action == c.TRADE_ACTION_PENDING and r.price <= 0):
            return c.TRADE_RETCODE_INVALID_PRICE, 0.0
        if (r.sl and (r.sl >= price if buy else r.sl <= price)) or (r.tp and (r.tp <= price if buy else r.tp >= price)):
            return c.TRADE_RETCODE_INVALID_STOPS, 0.0
        return c.TRADE_RETCODE_CHECK_OK, margin(spec, market, r.volume, price, account.leverage, account.currency, now)


def _selected(symbol: str, ticket: int, filters: dict[str, Any]) -> bool:
    """Every given filter holds (``symbol`` exactly, ``group`` by mask, ``ticket`` exactly)."""
    return (
        filters.get("symbol", symbol) == symbol
        and filters.get("ticket", ticket) == ticket
        and matches(filters.get("group", ""), symbol)
    )


def _filling_allowed(symbol_filling: int, exemode: int, filling: int) -> bool:
    """FOK and IOC by the symbol's ``filling_mode`` bits; Return in every execution mode but Market."""
    if filling == c.ORDER_FILLING_FOK:
        return bool(symbol_filling & c.SYMBOL_FILLING_FOK)
    if filling == c.ORDER_FILLING_IOC:
        return bool(symbol_filling & c.SYMBOL_FILLING_IOC)
    if filling == c.ORDER_FILLING_RETURN:
        return exemode != c.SYMBOL_TRADE_EXECUTION_MARKET
    return False


def _request(value: object) -> TradeRequest | None:
    """A request dict as a ``TradeRequest`` (omitted fields zero); ``None`` for a non-dict, an unknown key or a
    value of the wrong type."""
    if not isinstance(value, dict) or set(value) - set(TradeRequest._fields):
        return None
    fields: dict[str, Any] = {}
    for key, item in value.items():
        default = getattr(_REQUEST_DEFAULTS, key)
        if isinstance(item, bool) or not isinstance(item, float | int if key in _FLOAT_FIELDS else type(default)):
            return None
        fields[key] = float(item) if key in _FLOAT_FIELDS else item
    return _REQUEST_DEFAULTS._replace(**fields)
