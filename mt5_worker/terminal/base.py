"""The terminal port: the slice of the ``MetaTrader5`` module this service uses, and its error codes.

Everything above the terminal talks to a :class:`Terminal`. Adapters (the real module, the bridge, the
simulator) keep the SDK's conventions exactly: functions return ``False``/``None`` on failure and leave the
reason in ``last_error()``; they never raise for an MT5 failure.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

# Error codes, with the names and values of the SDK (wheel 5.0.6231; see shared/mt5-sdk-reference.md).
RES_S_OK = 1
RES_E_FAIL = -1
RES_E_INVALID_PARAMS = -2
RES_E_NO_MEMORY = -3
RES_E_NOT_FOUND = -4
RES_E_INVALID_VERSION = -5
RES_E_AUTH_FAILED = -6
RES_E_UNSUPPORTED = -7
RES_E_AUTO_TRADING_DISABLED = -8
RES_E_INTERNAL_FAIL = -10000
RES_E_INTERNAL_FAIL_SEND = -10001
RES_E_INTERNAL_FAIL_RECEIVE = -10002
RES_E_INTERNAL_FAIL_INIT = -10003
RES_E_INTERNAL_FAIL_CONNECT = -10004  # the SDK docs say -10003; the wheel says -10004
RES_E_INTERNAL_FAIL_TIMEOUT = -10005

ERROR_MESSAGES: dict[int, str] = {
    RES_S_OK: "Success",
    RES_E_FAIL: "Terminal: Call failed",
    RES_E_INVALID_PARAMS: "Terminal: Invalid params",
    RES_E_NO_MEMORY: "Terminal: Out of memory",
    RES_E_NOT_FOUND: "Terminal: Not found",
    RES_E_INVALID_VERSION: (
        "Terminal: Incompatible versions, please install the latest version of Terminal and Python module"
    ),
    RES_E_AUTH_FAILED: "Terminal: Authorization failed",
    RES_E_UNSUPPORTED: "Terminal: Unsupported function",
    RES_E_AUTO_TRADING_DISABLED: "Auto-Trading using Python API disabled in Terminal",
    RES_E_INTERNAL_FAIL: "IPC call failed",
    RES_E_INTERNAL_FAIL_SEND: "IPC send failed",
    RES_E_INTERNAL_FAIL_RECEIVE: "IPC recv failed",
    RES_E_INTERNAL_FAIL_INIT: "IPC initialize failed, MetaTrader 5 x64 not found",
    RES_E_INTERNAL_FAIL_CONNECT: "No IPC connection",
    RES_E_INTERNAL_FAIL_TIMEOUT: "IPC timeout",
}

SUCCESS: tuple[int, str] = (RES_S_OK, ERROR_MESSAGES[RES_S_OK])

# Codes meaning "the pipe to the terminal is gone or stuck": the terminal must be initialized again.
IPC_CODES = frozenset(range(RES_E_INTERNAL_FAIL_TIMEOUT, RES_E_INTERNAL_FAIL + 1))

# Our policy, not the SDK's: transient failures may succeed if tried again later. Everything else is
# permanent and never retried (retrying a refused password can lock an account at the broker).
TRANSIENT_CODES = IPC_CODES | {RES_E_FAIL, RES_E_NO_MEMORY}

# The port's functions, by name: what latency and fault settings may refer to.
FUNCTIONS = ("initialize", "login", "shutdown", "last_error", "version", "account_info", "terminal_info")


def is_transient(code: int) -> bool:
    """True when a failure with this MT5 code is worth retrying (IPC trouble, timeouts, generic failure)."""
    return code in TRANSIENT_CODES


def error_tuple(code: int, message: str | None = None) -> tuple[int, str]:
    """The ``last_error()`` tuple for ``code``, with the SDK's default message unless one is given."""
    return (code, message if message is not None else ERROR_MESSAGES.get(code, "Unknown error"))


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
