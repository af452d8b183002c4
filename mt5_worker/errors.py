"""Typed errors. Every MT5 failure carries the SDK's ``(code, message)`` from ``last_error()``.

The tree is shallow: :class:`MT5Error`, then :class:`TransientMT5Error` (worth retrying later) and
:class:`PermanentMT5Error` (never retried), then a few specific ones callers may want to catch.

Every one has ``args == (message, code, attempts)`` and a constructor taking exactly that, so pickle and
Celery's JSON result backend rebuild it with ``cls(*args)``. The message comes first, as in any Python
exception: a client in another language reads it as ``exc_message[0]`` of the stored result.
"""

from __future__ import annotations

from mt5_worker.codes import (
    RES_E_AUTH_FAILED,
    RES_E_FAIL,
    RES_E_INVALID_PARAMS,
    error_tuple,
    is_transient,
)


class MT5Error(Exception):
    """An MT5 call failed. ``message`` and ``code`` are the terminal's ``last_error()``."""

    def __init__(self, message: str, code: int = RES_E_FAIL, attempts: int = 1) -> None:
        super().__init__(message, code, attempts)
        self.code = code
        self.message = message
        self.attempts = attempts

    def __str__(self) -> str:
        suffix = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"MT5 error {self.code}: {self.message}{suffix}"


class TransientMT5Error(MT5Error):
    """IPC trouble, timeouts, generic failure: the same call may succeed later."""


class PermanentMT5Error(MT5Error):
    """Refused for a reason that retrying will not change (bad credentials, invalid params, ...)."""


class AuthorizationError(PermanentMT5Error):
    """The terminal refused the account's credentials (``RES_E_AUTH_FAILED``)."""


class InvalidRequestError(PermanentMT5Error):
    """The request was rejected before any SDK call: fix the arguments (``RES_E_INVALID_PARAMS``)."""

    def __init__(self, message: str, code: int = RES_E_INVALID_PARAMS, attempts: int = 1) -> None:
        super().__init__(message, code, attempts)


class CredentialsError(InvalidRequestError):
    """An encrypted credential did not open, or a plaintext one was sent where encryption is required
    (``MT5_CREDENTIALS_KEY``). Permanent: resending the same message cannot help."""


class AccountMismatchError(TransientMT5Error):
    """The terminal answered for another account than the one asked for (it was switched behind our back).

    Never returned as a result. Transient: the manager forgets the active account, so a retry logs in again.
    """


class TradingDisabledError(PermanentMT5Error):
    """Trading is off in this service (``MT5_TRADING_ENABLED`` is not ``true``), or refused by the terminal or the
    account before any order left: the message says which switch to turn on. Nothing was sent."""

    def __init__(self, message: str, code: int = 10017, attempts: int = 1) -> None:
        super().__init__(message, code, attempts)


class IdempotencyConflictError(PermanentMT5Error):
    """An idempotency key already names a different order request of this account: use a new key per order."""

    def __init__(self, message: str, code: int = RES_E_INVALID_PARAMS, attempts: int = 1) -> None:
        super().__init__(message, code, attempts)


class OrderOutcomeUnknownError(TransientMT5Error):
    """The order may have reached the trade server but its outcome is not known yet (the terminal or bridge failed
    after the request may have left, or another worker is still sending it). The order is never sent blindly
    again: the next attempt with the same key reconciles it first; ``order_result`` reads it later."""


class RecordsLostError(TransientMT5Error):
    """Redis lost the order records moments ago (a restart without persistence, a flush): a worker that noticed sends
    no new key for ``MT5_TRADING_SETTLE`` seconds, as an order sent just before the loss may not show in the account
    yet. Nothing was sent; send the same request with the same key again (Celery retries it meanwhile)."""


def error_from_last_error(last_error: tuple[int, str], attempts: int = 1) -> MT5Error:
    """Turn a ``last_error()`` tuple into the right typed error."""
    code, message = last_error
    if code == RES_E_AUTH_FAILED:
        return AuthorizationError(message, code, attempts)
    if is_transient(code):
        return TransientMT5Error(message, code, attempts)
    return PermanentMT5Error(message, code, attempts)


def error_from_code(code: int, attempts: int = 1) -> MT5Error:
    """The typed error for ``code`` with the SDK's default message."""
    return error_from_last_error(error_tuple(code), attempts)


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the variable and what it accepts."""
