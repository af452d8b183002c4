"""mt5-worker: Celery workers that serve many MetaTrader 5 accounts through one long-lived terminal each.

The public API (``mt5_worker.__all__``)::

    from mt5_worker import MT5Client, AsyncMT5Client, AuthorizationError

    client = MT5Client()                       # settings from the environment / .env
    client.account_info(10000001, "MetaQuotes-Demo", "demo-10000001")["balance"]

    async with AsyncMT5Client() as client:     # in async code: never blocks the event loop
        await client.account_info(10000001)

Names are imported on first use, so ``import mt5_worker`` stays cheap (no Celery, no I/O). ``mt5_worker.app`` (also
``mt5_worker.celery``) is the Celery app, found the way Celery finds a package's app: ``celery -A mt5_worker worker``
(the same as ``celery -A mt5_worker.worker.app worker``); it is not in ``__all__``, so ``import *`` imports no Celery.

The package, by layer from the top (docs/architecture.md; ``make lint`` checks the direction):

- ``cli``: the ``mt5-worker`` command;
- ``client``: what callers use; ``bridge``: both ends of the bridge to a terminal on another host;
- ``worker``: the Celery worker and its tasks; ``feed``: a trade server's market data into Redis Streams;
- ``fleet``: what the workers share in Redis; ``streams``: the live streams in Redis;
- ``task_specs``: the task table, one declaration per ``mt5.*`` task; ``conformance``: the SDK facts the service
  relies on, each with its check against a terminal (``mt5-worker conformance``);
- ``manager``: one terminal, served safely; ``backends``: the one place a terminal backend is chosen and built;
- ``settings``: ``Settings``, validated once, read at the edges;
- ``simulator``: the in-process terminal; ``terminal``: the port (with the SDK table) and the real adapter;
- ``logging``, ``credentials``, ``errors``, ``codes``: the foundations.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mt5_worker.client.async_client import AsyncMT5Client
    from mt5_worker.client.threaded import MT5Client
    from mt5_worker.errors import (
        AccountMismatchError,
        AuthorizationError,
        CredentialsError,
        IdempotencyConflictError,
        InvalidRequestError,
        MT5Error,
        OrderOutcomeUnknownError,
        PermanentMT5Error,
        RecordsLostError,
        SettingsError,
        TradingDisabledError,
        TransientMT5Error,
    )
    from mt5_worker.logging import configure_logging
    from mt5_worker.manager.connection_manager import MT5ConnectionManager
    from mt5_worker.settings import Settings
    from mt5_worker.simulator import SimulatedTerminal

_EXPORTS = {
    "AsyncMT5Client": "mt5_worker.client.async_client",
    "MT5Client": "mt5_worker.client.threaded",
    "MT5ConnectionManager": "mt5_worker.manager.connection_manager",
    "Settings": "mt5_worker.settings",
    "SettingsError": "mt5_worker.errors",
    "SimulatedTerminal": "mt5_worker.simulator",
    "configure_logging": "mt5_worker.logging",
    "MT5Error": "mt5_worker.errors",
    "TransientMT5Error": "mt5_worker.errors",
    "PermanentMT5Error": "mt5_worker.errors",
    "AuthorizationError": "mt5_worker.errors",
    "InvalidRequestError": "mt5_worker.errors",
    "CredentialsError": "mt5_worker.errors",
    "AccountMismatchError": "mt5_worker.errors",
    "TradingDisabledError": "mt5_worker.errors",
    "IdempotencyConflictError": "mt5_worker.errors",
    "OrderOutcomeUnknownError": "mt5_worker.errors",
    "RecordsLostError": "mt5_worker.errors",
}
# Celery's app, under the two names `celery -A <package>` looks for (celery.app.utils.find_app).
_CELERY_APP = {"app", "celery"}

__all__ = [
    "AccountMismatchError",
    "AsyncMT5Client",
    "AuthorizationError",
    "CredentialsError",
    "IdempotencyConflictError",
    "InvalidRequestError",
    "MT5Client",
    "MT5ConnectionManager",
    "MT5Error",
    "OrderOutcomeUnknownError",
    "PermanentMT5Error",
    "RecordsLostError",
    "Settings",
    "SettingsError",
    "SimulatedTerminal",
    "TradingDisabledError",
    "TransientMT5Error",
    "__version__",
    "configure_logging",
]

try:
    __version__ = version("mt5-worker")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    if name in _CELERY_APP:
        from mt5_worker.worker.app import app

        return app
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mt5_worker' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
