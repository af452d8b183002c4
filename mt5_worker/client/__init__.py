"""The callers' side: one interface in two flavours, and what goes with it.

- :mod:`.threaded`: :class:`MT5Client` (threads): submit and call, routing, sealing, expiry, bounded publish retries;
- :mod:`.async_client`: :class:`AsyncMT5Client` (asyncio): the same methods as coroutines, never blocking the loop;
- :mod:`.task_methods`, :mod:`.submit_methods`, :mod:`.async_task_methods`: their methods, one per task (and the
  threaded client's ``submit_*``), generated from the task table (:mod:`mt5_worker.task_specs`) by
  ``scripts/generate_clients.py`` (``make clients``), the trading tasks' in :mod:`.trading_methods`,
  :mod:`.submit_trading_methods` and :mod:`.async_trading_methods` (their base classes);
- :mod:`.streaming`: ``stream_ticks`` and ``stream_trades``, live streams read from Redis, for both clients;
- :mod:`.results`: awaits results from the Redis backend on the event loop (one pub/sub connection for all);
- :mod:`.functions`: module-level ``submit_*`` through one client built from the environment;
- :mod:`.frames`: :func:`to_frame`, answers as pandas data frames.
"""

from mt5_worker.client.async_client import AsyncMT5Client
from mt5_worker.client.frames import to_frame
from mt5_worker.client.functions import (
    default_client,
    submit_account_info,
    submit_health,
    submit_login,
    submit_pool_stats,
    workers,
)
from mt5_worker.client.threaded import MT5Client, publish_retry_policy

__all__ = [
    "AsyncMT5Client",
    "MT5Client",
    "default_client",
    "publish_retry_policy",
    "submit_account_info",
    "submit_health",
    "submit_login",
    "submit_pool_stats",
    "to_frame",
    "workers",
]
