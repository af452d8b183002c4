"""The real terminal: a thin adapter over the ``MetaTrader5`` module (Windows only, imported lazily).

Results are rebuilt as this package's named tuples: the SDK's compiled struct sequences cannot be pickled
by module path, so they must not leak into Celery results or across the bridge. Bars and ticks stay numpy
structured arrays, as the SDK returns them. Arguments go to the SDK exactly as its pages show them: positional
where they say "unnamed", and optional ones only when set.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from mt5_worker.errors import SettingsError
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

UNAVAILABLE = (
    "MT5_BACKEND=metatrader5 needs the MetaTrader5 package, which exists only for Windows "
    "(pip install 'mt5-worker[metatrader5]' on the terminal's Windows host). On {platform}, use "
    "MT5_BACKEND=simulator, or MT5_BACKEND=bridge with `mt5-worker bridge` running beside the terminal."
)


def load_module() -> ModuleType:
    """Import ``MetaTrader5`` or stop start-up with a message saying what to use instead."""
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError:
        raise SettingsError(UNAVAILABLE.format(platform=sys.platform)) from None


class MetaTrader5Terminal:
    """The :class:`~mt5_worker.terminal.port.Terminal` port over the real SDK module."""

    backend: ClassVar[str] = "metatrader5"

    def __init__(self, module: ModuleType | None = None) -> None:
        self._mt5: Any = module if module is not None else load_module()

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
        # Pass only what is set, as the SDK's own examples do; how its parser treats None is undocumented.
        kwargs: dict[str, Any] = {"timeout": timeout, "portable": portable}
        kwargs |= {k: v for k, v in (("login", login), ("password", password), ("server", server)) if v is not None}
        args = () if path is None else (path,)
        return bool(self._mt5.initialize(*args, **kwargs))

    def login(
        self, login: int, password: str | None = None, server: str | None = None, *, timeout: int = 60000
    ) -> bool:
        kwargs: dict[str, Any] = {"timeout": timeout}
        kwargs |= {k: v for k, v in (("password", password), ("server", server)) if v is not None}
        return bool(self._mt5.login(login, **kwargs))

    def shutdown(self) -> bool:
        self._mt5.shutdown()
        return True

    def account_info(self) -> AccountInfo | None:
        info = self._mt5.account_info()
        return None if info is None else AccountInfo(**_fields(info, AccountInfo._fields))

    def terminal_info(self) -> TerminalInfo | None:
        info = self._mt5.terminal_info()
        return None if info is None else TerminalInfo(**_fields(info, TerminalInfo._fields))

    def version(self) -> tuple[int, int, str] | None:
        version = self._mt5.version()
        return None if version is None else (int(version[0]), int(version[1]), str(version[2]))

    def last_error(self) -> tuple[int, str]:
        code, message = self._mt5.last_error()
        return (int(code), str(message))

    # --- the market side ---

    def symbols_total(self) -> int | None:
        total = self._mt5.symbols_total()
        return None if total is None else int(total)

    def symbols_get(self, group: str | None = None) -> tuple[SymbolInfo, ...] | None:
        symbols = self._mt5.symbols_get() if group is None else self._mt5.symbols_get(group=group)
        return None if symbols is None else tuple(SymbolInfo(**_fields(s, SymbolInfo._fields)) for s in symbols)

    def symbol_info(self, symbol: str, /) -> SymbolInfo | None:
        info = self._mt5.symbol_info(symbol)
        return None if info is None else SymbolInfo(**_fields(info, SymbolInfo._fields))

    def symbol_info_tick(self, symbol: str, /) -> Tick | None:
        tick = self._mt5.symbol_info_tick(symbol)
        return None if tick is None else Tick(**_fields(tick, Tick._fields))

    def symbol_select(self, symbol: str, enable: bool = True, /) -> bool:
        return bool(self._mt5.symbol_select(symbol, enable))

    def market_book_add(self, symbol: str, /) -> bool:
        return bool(self._mt5.market_book_add(symbol))

    def market_book_get(self, symbol: str, /) -> tuple[BookInfo, ...] | None:
        book = self._mt5.market_book_get(symbol)
        return None if book is None else tuple(BookInfo(**_fields(entry, BookInfo._fields)) for entry in book)

    def market_book_release(self, symbol: str, /) -> bool:
        return bool(self._mt5.market_book_release(symbol))

    def copy_rates_from(self, symbol: str, timeframe: int, date_from: Date, count: int, /) -> Records | None:
        return _array(self._mt5.copy_rates_from(symbol, timeframe, date_from, count))

    def copy_rates_from_pos(self, symbol: str, timeframe: int, start_pos: int, count: int, /) -> Records | None:
        return _array(self._mt5.copy_rates_from_pos(symbol, timeframe, start_pos, count))

    def copy_rates_range(self, symbol: str, timeframe: int, date_from: Date, date_to: Date, /) -> Records | None:
        return _array(self._mt5.copy_rates_range(symbol, timeframe, date_from, date_to))

    def copy_ticks_from(self, symbol: str, date_from: Date, count: int, flags: int, /) -> Records | None:
        return _array(self._mt5.copy_ticks_from(symbol, date_from, count, flags))

    def copy_ticks_range(self, symbol: str, date_from: Date, date_to: Date, flags: int, /) -> Records | None:
        return _array(self._mt5.copy_ticks_range(symbol, date_from, date_to, flags))

    # --- the account side ---

    def orders_total(self) -> int | None:
        return _int(self._mt5.orders_total())

    def orders_get(self, **filters: Any) -> tuple[TradeOrder, ...] | None:
        return _records(self._mt5.orders_get(**filters), TradeOrder)

    def positions_total(self) -> int | None:
        return _int(self._mt5.positions_total())

    def positions_get(self, **filters: Any) -> tuple[TradePosition, ...] | None:
        return _records(self._mt5.positions_get(**filters), TradePosition)

    def history_orders_total(self, date_from: Date, date_to: Date, /) -> int | None:
        return _int(self._mt5.history_orders_total(date_from, date_to))

    def history_orders_get(self, *dates: Date, **filters: Any) -> tuple[TradeOrder, ...] | None:
        return _records(self._mt5.history_orders_get(*dates, **filters), TradeOrder)

    def history_deals_total(self, date_from: Date, date_to: Date, /) -> int | None:
        return _int(self._mt5.history_deals_total(date_from, date_to))

    def history_deals_get(self, *dates: Date, **filters: Any) -> tuple[TradeDeal, ...] | None:
        return _records(self._mt5.history_deals_get(*dates, **filters), TradeDeal)

    def order_calc_margin(self, action: int, symbol: str, volume: float, price: float, /) -> float | None:
        value = self._mt5.order_calc_margin(action, symbol, volume, price)
        return None if value is None else float(value)

    def order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float, /
    ) -> float | None:
        value = self._mt5.order_calc_profit(action, symbol, volume, price_open, price_close)
        return None if value is None else float(value)

    def order_check(self, request: dict[str, object], /) -> OrderCheckResult | None:
        result = self._mt5.order_check(request)
        if result is None:
            return None
        fields = _fields(result, OrderCheckResult._fields)
        fields["request"] = TradeRequest(**_fields(fields["request"], TradeRequest._fields))
        return OrderCheckResult(**fields)

    # --- trading ---

    def order_send(self, request: dict[str, object], /) -> OrderSendResult | None:
        result = self._mt5.order_send(request)  # positionally: the SDK refuses `request=` (an unnamed parameter)
        if result is None:
            return None
        fields = _fields(result, OrderSendResult._fields)
        fields["request"] = TradeRequest(**_fields(fields["request"], TradeRequest._fields))
        return OrderSendResult(**fields)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _records(values: Any, record: Any) -> tuple[Any, ...] | None:
    """A tuple of the SDK's struct sequences as this package's named tuples (``None`` stays ``None``)."""
    return None if values is None else tuple(record(**_fields(v, record._fields)) for v in values)


def _array(value: Any) -> Records | None:
    """The SDK's numpy structured array as it is (``None`` stays ``None``)."""
    return None if value is None else np.asarray(value)


def _fields(info: Any, names: tuple[str, ...]) -> dict[str, Any]:
    # Take our fields by name, so a newer SDK that adds fields does not break the adapter.
    values = info._asdict()
    return {name: values[name] for name in names}
