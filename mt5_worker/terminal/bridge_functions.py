"""The bridge client's port functions: each one a round trip through
:meth:`~mt5_worker.terminal.bridge.BridgeTerminal._request`, its plain answer rebuilt as the port's records.

A mixin of :class:`~mt5_worker.terminal.bridge.BridgeTerminal` (which supplies the connection, the request and the
error slot), as :mod:`~mt5_worker.terminal.simulator_market` is for the simulator. Date arguments cross as epoch
seconds (a ``datetime`` is converted here by ``timestamp()``, in this process's time zone).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mt5_worker.terminal.port import AccountInfo, Date, TerminalInfo
from mt5_worker.terminal.records import (
    BookInfo,
    OrderCheckResult,
    OrderSendResult,
    Records,
    SymbolInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
)


class BridgeFunctions:
    """The :class:`~mt5_worker.terminal.port.Terminal` port's functions over the bridge."""

    # What BridgeTerminal supplies (it sets or overrides each of these).
    _error: tuple[int, str]

    def _request(self, function: str, **kwargs: object) -> Any:
        raise NotImplementedError

    # --- the port ---------------------------------------------------------------------------------

    def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int = 60000,
        portable: bool = False,
    ) -> bool:
        value = self._request(
            "initialize",
            path=path,
            login=login,
            password=password,
            server=server,
            timeout=timeout,
            portable=portable,
        )
        return value is True

    def login(
        self, login: int, password: str | None = None, server: str | None = None, *, timeout: int = 60000
    ) -> bool:
        return self._request("login", login=login, password=password, server=server, timeout=timeout) is True

    def shutdown(self) -> bool:
        return self._request("shutdown") is True

    def account_info(self) -> AccountInfo | None:
        values = self._request("account_info")
        return None if values is None else AccountInfo(*values)

    def terminal_info(self) -> TerminalInfo | None:
        values = self._request("terminal_info")
        return None if values is None else TerminalInfo(*values)

    def version(self) -> tuple[int, int, str] | None:
        values = self._request("version")
        return None if values is None else (values[0], values[1], values[2])

    def last_error(self) -> tuple[int, str]:
        """The error of this adapter's latest call: the bridge's answer, or the transport failure."""
        return self._error

    # --- the market side ---------------------------------------------------------------------------
    # Dates cross as epoch seconds (a datetime is converted here, with ``timestamp()``); arrays as plain data.

    def symbols_total(self) -> int | None:
        value = self._request("symbols_total")
        return None if value is None else int(value)

    def symbols_get(self, group: str | None = None) -> tuple[SymbolInfo, ...] | None:
        values = self._request("symbols_get") if group is None else self._request("symbols_get", group=group)
        return None if values is None else tuple(SymbolInfo(*row) for row in values)

    def symbol_info(self, symbol: str, /) -> SymbolInfo | None:
        values = self._request("symbol_info", symbol=symbol)
        return None if values is None else SymbolInfo(*values)

    def symbol_info_tick(self, symbol: str, /) -> Tick | None:
        values = self._request("symbol_info_tick", symbol=symbol)
        return None if values is None else Tick(*values)

    def symbol_select(self, symbol: str, enable: bool = True, /) -> bool:
        return self._request("symbol_select", symbol=symbol, enable=enable) is True

    def market_book_add(self, symbol: str, /) -> bool:
        return self._request("market_book_add", symbol=symbol) is True

    def market_book_get(self, symbol: str, /) -> tuple[BookInfo, ...] | None:
        values = self._request("market_book_get", symbol=symbol)
        return None if values is None else tuple(BookInfo(*row) for row in values)

    def market_book_release(self, symbol: str, /) -> bool:
        return self._request("market_book_release", symbol=symbol) is True

    def copy_rates_from(self, symbol: str, timeframe: int, date_from: Date, count: int, /) -> Records | None:
        return self._array(
            "copy_rates_from", symbol=symbol, timeframe=timeframe, date_from=_epoch(date_from), count=count
        )

    def copy_rates_from_pos(self, symbol: str, timeframe: int, start_pos: int, count: int, /) -> Records | None:
        return self._array("copy_rates_from_pos", symbol=symbol, timeframe=timeframe, start_pos=start_pos, count=count)

    def copy_rates_range(self, symbol: str, timeframe: int, date_from: Date, date_to: Date, /) -> Records | None:
        return self._array(
            "copy_rates_range",
            symbol=symbol,
            timeframe=timeframe,
            date_from=_epoch(date_from),
            date_to=_epoch(date_to),
        )

    def copy_ticks_from(self, symbol: str, date_from: Date, count: int, flags: int, /) -> Records | None:
        return self._array("copy_ticks_from", symbol=symbol, date_from=_epoch(date_from), count=count, flags=flags)

    def copy_ticks_range(self, symbol: str, date_from: Date, date_to: Date, flags: int, /) -> Records | None:
        return self._array(
            "copy_ticks_range", symbol=symbol, date_from=_epoch(date_from), date_to=_epoch(date_to), flags=flags
        )

    # --- the account side: records cross as plain tuples; order_check's request as (key, value) pairs ---

    def orders_total(self) -> int | None:
        return self._request("orders_total")  # type: ignore[no-any-return]

    def orders_get(self, **filters: Any) -> tuple[TradeOrder, ...] | None:
        values = self._request("orders_get", **filters)
        return None if values is None else tuple(TradeOrder(*row) for row in values)

    def positions_total(self) -> int | None:
        return self._request("positions_total")  # type: ignore[no-any-return]

    def positions_get(self, **filters: Any) -> tuple[TradePosition, ...] | None:
        values = self._request("positions_get", **filters)
        return None if values is None else tuple(TradePosition(*row) for row in values)

    def history_orders_total(self, date_from: Date, date_to: Date, /) -> int | None:
        return self._request("history_orders_total", date_from=_epoch(date_from), date_to=_epoch(date_to))  # type: ignore[no-any-return]

    def history_orders_get(self, *dates: Date, **filters: Any) -> tuple[TradeOrder, ...] | None:
        values = self._request("history_orders_get", dates=tuple(_epoch(d) for d in dates), **filters)
        return None if values is None else tuple(TradeOrder(*row) for row in values)

    def history_deals_total(self, date_from: Date, date_to: Date, /) -> int | None:
        return self._request("history_deals_total", date_from=_epoch(date_from), date_to=_epoch(date_to))  # type: ignore[no-any-return]

    def history_deals_get(self, *dates: Date, **filters: Any) -> tuple[TradeDeal, ...] | None:
        values = self._request("history_deals_get", dates=tuple(_epoch(d) for d in dates), **filters)
        return None if values is None else tuple(TradeDeal(*row) for row in values)

    def order_calc_margin(self, action: int, symbol: str, volume: float, price: float, /) -> float | None:
        return self._request("order_calc_margin", action=action, symbol=symbol, volume=volume, price=price)  # type: ignore[no-any-return]

    def order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float, /
    ) -> float | None:
        value = self._request("order_calc_profit", action=action, symbol=symbol, volume=volume,
                              price_open=price_open, price_close=price_close)  # fmt: skip
        return value  # type: ignore[no-any-return]

    def order_check(self, request: dict[str, object], /) -> OrderCheckResult | None:
        pairs = tuple(request.items()) if isinstance(request, dict) else request
        values = self._request("order_check", request=pairs)
        return None if values is None else OrderCheckResult._make((*values[:-1], TradeRequest(*values[-1])))

    # --- trading: the request crosses as (key, value) pairs, like order_check's ---

    def order_send(self, request: dict[str, object], /) -> OrderSendResult | None:
        pairs = tuple(request.items()) if isinstance(request, dict) else request
        values = self._request("order_send", request=pairs)
        return None if values is None else OrderSendResult._make((*values[:-1], TradeRequest(*values[-1])))

    def _array(self, function: str, **kwargs: object) -> Records | None:
        array: Records | None = self._request(function, **kwargs)  # decoded and checked by _check_reply
        return array


def _epoch(date: Date) -> object:
    """A date argument as the bridge sends it: a datetime as epoch seconds, anything else as it is (the terminal
    judges it)."""
    return int(date.timestamp()) if isinstance(date, datetime) else date
