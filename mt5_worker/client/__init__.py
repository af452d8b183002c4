"""The callers' side: :class:`MT5Client` (threads), :class:`AsyncMT5Client` (asyncio), and module functions
that submit through a client built from the environment."""

from mt5_worker.client.async_client import AsyncMT5Client
from mt5_worker.client.functions import (
    default_client,
    submit_account_info,
    submit_health,
    submit_login,
    submit_pool_stats,
    workers,
)
from mt5_worker.client.market import to_frame
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
