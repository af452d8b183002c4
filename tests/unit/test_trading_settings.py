"""The trading settings' rules: an order's lease outlasts any attempt that may still be sending it."""

from __future__ import annotations

import pytest

from mt5_worker.settings import Settings


def test_the_default_lease_outlasts_an_attempt() -> None:
    """docs/trading.md: the lease "must exceed the longest an order_send can take". An attempt is bounded only by
    the task's hard time limit (login up to MT5_TERMINAL_TIMEOUT, then terminal_info, account_info and order_send,
    each up to MT5_BRIDGE_TIMEOUT behind a bridge); nothing checks the relation, and the defaults break it."""
    s = Settings.load(_env_file=None)
    assert s.trading_lease > s.task_time_limit, (s.trading_lease, s.task_time_limit)
    assert s.trading_lease > s.bridge_timeout, (s.trading_lease, s.bridge_timeout)
    with pytest.raises(ValueError, match="MT5_TRADING_LEASE"):
        Settings.load(_env_file=None, trading_lease=10, task_time_limit=180)
