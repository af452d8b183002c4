"""Every process the suite starts runs its simulated trade servers on the harness's pinned clock (a Wednesday noon,
``harness.env``), whatever the real weekday or hour: the market-hours tests mean the same on a Saturday.

In-process simulators are checked after every test by ``tests/conftest.py``; this module checks the processes
(workers, bridges) and the environment every harness child gets.
"""

from __future__ import annotations

import time

import pytest

from harness.env import PINS, simulated_now
from mt5_worker import MT5Client
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

A = DEMO_ACCOUNTS[0]
SLACK = 5.0  # seconds: the time between reading the clock here and the worker reading its own
QUIET = 120.0  # seconds: the longest a symbol goes without a tick in its trading hours, with room


def test_every_stack_serves_the_pinned_clock(stack: Stack) -> None:
    """A worker (on the simulator, or behind a bridge) answers with the pinned trade server time: its last GBPUSD
    tick is seconds old, on a Wednesday, although this machine's clock may say Saturday."""
    stack.worker()
    client = MT5Client(app=stack.app, settings=stack.settings())
    before = simulated_now()
    tick = client.symbol_tick(A.login, "GBPUSD", password=A.password.get_secret_value(), server=A.server)
    after = simulated_now()
    # GBPUSD may be quiet for a few seconds (its last tick older than that); a clock that is not pinned would show
    # a tick of Friday evening, days old.
    assert before - QUIET <= tick["time_msc"] / 1000 <= after + SLACK
    assert time.gmtime(tick["time"]).tm_wday == PINS["trading"].weekday() == 2  # a Wednesday
    client.close()
