"""The terminal port: the slice of the ``MetaTrader5`` module this service uses, as one typed protocol.

The functions are declared once, in the SDK table (:mod:`mt5_worker.terminal.functions`); :class:`Terminal` writes
them out for IDEs and mypy, and a test keeps the two the same. The SDK's error codes are in :mod:`mt5_worker.codes`;
its enumerations (timeframes, tick flags, order types) in :mod:`mt5_worker.terminal.constants`; its records in
:mod:`mt5_worker.terminal.records` and its arrays' columns in :mod:`mt5_worker.terminal.arrays`.

Everything above the terminal talks to a :class:`Terminal`. Adapters (the real module, the bridge, the
simulator) keep the SDK's conventions exactly: functions return ``False``/``None`` on failure and leave the
reason in ``last_error()``; they never raise for an MT5 failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mt5_worker.terminal.functions import ACCOUNT_FUNCTIONS, FUNCTIONS, MARKET_FUNCTIONS, TRADE_FUNCTIONS
from mt5_worker.terminal.records import (
    AccountInfo,
    BookInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
)

if TYPE_CHECKING:  # numpy is loaded by the code that handles arrays, not by every user of the port
    from mt5_worker.terminal.arrays import Records

__all__ = [
    "ACCOUNT_FUNCTIONS",
    "FUNCTIONS",
    "MARKET_FUNCTIONS",
    "TRADE_FUNCTIONS",
    "AccountInfo",
    "BookInfo",
    "Date",
    "OrderCheckResult",
    "OrderSendResult",
    "SymbolInfo",
    "Terminal",
    "TerminalInfo",
    "Tick",
    "TradeDeal",
    "TradeOrder",
    "TradePosition",
    "TradeRequest",
]

# A date argument of the data functions: a datetime or epoch seconds (the trade server's clock; see
# docs/sdk-market-data.md), always passed positionally.
Date = datetime | int


@runtime_checkable
class Terminal(Protocol):
    """One MT5 terminal connection, with the ``MetaTrader5`` module's names and return conventions.

    Not thread-safe, like the SDK itself: callers serialise (the manager's lock does).
    """

    def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int = 60000,
        portable: bool = False,
    ) -> bool: ...

    def login(
        self, login: int, password: str | None = None, server: str | None = None, *, timeout: int = 60000
    ) -> bool: ...

    def shutdown(self) -> bool: ...

    def account_info(self) -> AccountInfo | None: ...

    def terminal_info(self) -> TerminalInfo | None: ...

    def version(self) -> tuple[int, int, str] | None: ...

    def last_error(self) -> tuple[int, str]: ...

    # --- the market side: symbols, ticks, bars, Depth of Market ---
    # Positional-only where the SDK's pages say "required unnamed parameter": the SDK refuses those as keywords.
    # (symbol_select's enable is "optional unnamed", yet shown named: accepted both ways, passed positionally.)

    def symbols_total(self) -> int | None: ...

    def symbols_get(self, group: str = ...) -> tuple[SymbolInfo, ...] | None: ...

    def symbol_info(self, symbol: str, /) -> SymbolInfo | None: ...

    def symbol_info_tick(self, symbol: str, /) -> Tick | None: ...

    def symbol_select(self, symbol: str, /, enable: bool = True) -> bool: ...

    def market_book_add(self, symbol: str, /) -> bool: ...

    def market_book_get(self, symbol: str, /) -> tuple[BookInfo, ...] | None: ...

    def market_book_release(self, symbol: str, /) -> bool: ...

    def copy_rates_from(self, symbol: str, timeframe: int, date_from: Date, count: int, /) -> Records | None: ...

    def copy_rates_from_pos(self, symbol: str, timeframe: int, start_pos: int, count: int, /) -> Records | None: ...

    def copy_rates_range(self, symbol: str, timeframe: int, date_from: Date, date_to: Date, /) -> Records | None: ...

    def copy_ticks_from(self, symbol: str, date_from: Date, count: int, flags: int, /) -> Records | None: ...

    def copy_ticks_range(self, symbol: str, date_from: Date, date_to: Date, flags: int, /) -> Records | None: ...

    # --- the account side: orders, positions, history (dates positional only), calculations, checks ---

    def orders_total(self) -> int | None: ...

    def orders_get(
        self, *, symbol: str = ..., group: str = ..., ticket: int = ...
    ) -> tuple[TradeOrder, ...] | None: ...

    def positions_total(self) -> int | None: ...

    def positions_get(
        self, *, symbol: str = ..., group: str = ..., ticket: int = ...
    ) -> tuple[TradePosition, ...] | None: ...

    def history_orders_total(self, date_from: Date, date_to: Date, /) -> int | None: ...

    def history_orders_get(
        self, date_from: Date = ..., date_to: Date = ..., /, *, group: str = ..., ticket: int = ..., position: int = ...
    ) -> tuple[TradeOrder, ...] | None: ...

    def history_deals_total(self, date_from: Date, date_to: Date, /) -> int | None: ...

    def history_deals_get(
        self, date_from: Date = ..., date_to: Date = ..., /, *, group: str = ..., ticket: int = ..., position: int = ...
    ) -> tuple[TradeDeal, ...] | None: ...

    def order_calc_margin(self, action: int, symbol: str, volume: float, price: float, /) -> float | None: ...

    def order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float, /
    ) -> float | None: ...

    def order_check(self, request: dict[str, object], /) -> OrderCheckResult | None: ...

    # --- trading: the request is one positional dict (the SDK refuses it as a keyword) ---

    def order_send(self, request: dict[str, object], /) -> OrderSendResult | None: ...
