"""The SDK's return codes and ``last_error()`` tuples: the vocabulary of the errors and of every adapter.

Plain constants and two pure functions, so the foundations (``errors``) and the terminal layer can share them.
"""

from __future__ import annotations

# Error codes, with the names and values of the SDK (wheel 5.0.6231; see docs/sdk-notes.md).
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


def is_transient(code: int) -> bool:
    """True when a failure with this MT5 code is worth retrying (IPC trouble, timeouts, generic failure)."""
    return code in TRANSIENT_CODES


def error_tuple(code: int, message: str | None = None) -> tuple[int, str]:
    """The ``last_error()`` tuple for ``code``, with the SDK's default message unless one is given."""
    return (code, message if message is not None else ERROR_MESSAGES.get(code, "Unknown error"))
