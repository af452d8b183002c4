"""The terminal port: the slice of the ``MetaTrader5`` module this service uses, and its result records.

The SDK's error codes are in :mod:`mt5_worker.codes`; its enumerations (timeframes, tick flags, order types) in
:mod:`mt5_worker.terminal.constants`; the market side's records and numpy dtypes in
:mod:`mt5_worker.terminal.records` (re-exported here).

Everything above the terminal talks to a :class:`Terminal`. Adapters (the real module, the bridge, the
simulator) keep the SDK's conventions exactly: functions return ``False``/``None`` on failure and leave the
reason in ``last_error()``; they never raise for an MT5 failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

from mt5_worker.terminal.records import (
    RATES_DTYPE,
    TICKS_DTYPE,
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

__all__ = [
    "ACCOUNT_FUNCTIONS",
    "FUNCTIONS",
    "MARKET_FUNCTIONS",
    "RATES_DTYPE",
    "TICKS_DTYPE",
    "TRADE_FUNCTIONS",
    "AccountInfo",
    "BookInfo",
    "Date",
    "OrderCheckResult",
    "OrderSendResult",
    "Records",
    "SymbolInfo",
    "Terminal",
    "TerminalInfo",
    "Tick",
    "TradeDeal",
    "TradeOrder",
    "TradePosition",
    "TradeRequest",
]

# The market side (read-only data): the functions that take symbols (docs/sdk-market-data.md).
MARKET_FUNCTIONS = (
    "symbols_total",
    "symbols_get",
    "symbol_info",
    "symbol_info_tick",
    "symbol_select",
    "market_book_add",
    "market_book_get",
    "market_book_release",
    "copy_rates_from",
    "copy_rates_from_pos",
    "copy_rates_range",
    "copy_ticks_from",
    "copy_ticks_range",
)

# The account side (read-only): orders, positions, history, margin/profit calculation, order_check.
ACCOUNT_FUNCTIONS = (
    "orders_total",
    "orders_get",
    "positions_total",
    "positions_get",
    "history_orders_total",
    "history_orders_get",
    "history_deals_total",
    "history_deals_get",
    "order_calc_margin",
    "order_calc_profit",
    "order_check",
)

# The trading side: the one function that changes an account (docs/sdk-trading.md).
TRADE_FUNCTIONS = ("order_send",)

# The port's functions, by name: what latency and fault settings may refer to.
FUNCTIONS = (
    "initialize",
    "login",
    "shutdown",
    "last_error",
    "version",
    "account_info",
    "terminal_info",
    *MARKET_FUNCTIONS,
    *ACCOUNT_FUNCTIONS,
    *TRADE_FUNCTIONS,
)

# A date argument of the data functions: a datetime or epoch seconds (the trade server's clock; see
# docs/sdk-market-data.md), always passed positionally.
Date = datetime | int


class AccountInfo(NamedTuple):
    """``mt5.account_info()``: the SDK's 28 fields in the SDK's order."""

    login: int
    trade_mode: int
    leverage: int
    limit_orders: int
    margin_so_mode: int
    trade_allowed: bool
    trade_expert: bool
    margin_mode: int
    currency_digits: int
    fifo_close: bool
    balance: float
    credit: float
    profit: float
    equity: float
    margin: float
    margin_free: float
    margin_level: float
    margin_so_call: float
    margin_so_so: float
    margin_initial: float
    margin_maintenance: float
    assets: float
    liabilities: float
    commission_blocked: float
    name: str
    server: str
    currency: str
    company: str


class TerminalInfo(NamedTuple):
    """``mt5.terminal_info()``: the SDK's 22 fields in the SDK's order."""

    community_account: bool
    community_connection: bool
    connected: bool
    dlls_allowed: bool
    trade_allowed: bool
    tradeapi_disabled: bool
    email_enabled: bool
    ftp_enabled: bool
    notifications_enabled: bool
    mqid: bool
    build: int
    maxbars: int
    codepage: int
    ping_last: int
    community_balance: float
    retransmission: float
    company: str
    name: str
    language: str
    path: str
    data_path: str
    commondata_path: str


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

    def symbols_total(self) -> int | None: ...

    def symbols_get(self, group: str = ...) -> tuple[SymbolInfo, ...] | None: ...

    def symbol_info(self, symbol: str, /) -> SymbolInfo | None: ...

    def symbol_info_tick(self, symbol: str, /) -> Tick | None: ...

    def symbol_select(self, symbol: str, enable: bool = True, /) -> bool: ...

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
