"""Module functions that submit through one :class:`~mt5_worker.client.threaded.MT5Client` built from the
environment on first use: for scripts that want no client object of their own."""

from __future__ import annotations

from celery.result import AsyncResult

from mt5_worker.client.threaded import MT5Client

_default: MT5Client | None = None


def default_client() -> MT5Client:
    """The module functions' client, built from the environment on first use."""
    global _default
    if _default is None:
        _default = MT5Client()
    return _default


def submit_account_info(login: int, server: str | None = None, password: str | None = None) -> AsyncResult:
    """Enqueue ``mt5.account_info`` for ``login`` on its terminal; ``.get()`` the ``AccountInfo`` dict."""
    return default_client().submit_account_info(login, server, password)


def submit_login(login: int, password: str, server: str) -> AsyncResult:
    """Enqueue ``mt5.login``; ``.get()`` the session info (never the password)."""
    return default_client().submit_login(login, password, server)


def submit_health(terminal_id: str | None = None) -> AsyncResult:
    return default_client().submit_health(terminal_id)


def submit_pool_stats(terminal_id: str | None = None) -> AsyncResult:
    return default_client().submit_pool_stats(terminal_id)


def workers() -> list[str]:
    """Terminal ids of the live workers."""
    return default_client().workers()
