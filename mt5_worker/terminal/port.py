"""The terminal port: the slice of the ``MetaTrader5`` module this service uses, and its result records.

The SDK's error codes are in :mod:`mt5_worker.codes`.

Everything above the terminal talks to a :class:`Terminal`. Adapters (the real module, the bridge, the
simulator) keep the SDK's conventions exactly: functions return ``False``/``None`` on failure and leave the
reason in ``last_error()``; they never raise for an MT5 failure.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

# The port's functions, by name: what latency and fault settings may refer to.
FUNCTIONS = ("initialize", "login", "shutdown", "last_error", "version", "account_info", "terminal_info")


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
