"""The simulated trade server shared by processes, as worker processes share it: several processes that look at an
account at the same moment, each through its own SQLite connection, play it forward once between them (a pending
order fills once, at the tick the market says), and each sees the same fill."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.simulator.specs import AccountSpec
from mt5_worker.terminal import constants as c

pytestmark = [pytest.mark.integration, pytest.mark.market_hours]  # starts processes; trades

WED = 1_795_617_000.0  # 2026-11-25 14:30 UTC (server time), a Wednesday
A = AccountSpec(login=7201, password=SecretStr("pw-7201-race"), server="Race-Test", balance=10_000.0, trades=False)
PROCESSES = 4


def terminal(store: str, at: float) -> SimulatedTerminal:
    sim = SimulatedTerminal([A], clock=lambda: at, trade_store=store)
    assert sim.initialize(login=A.login, password=A.password.get_secret_value(), server=A.server)
    return sim


def look(store: str, at: float, barrier: Any, seen: Any) -> None:
    sim = terminal(store, at)
    barrier.wait()  # every process reads the account at the same moment
    seen.put([(p.ticket, p.price_open, p.time_msc) for p in sim.positions_get() or ()])


def test_processes_looking_at_the_same_moment_fill_an_order_once(tmp_path: Path) -> None:
    store = str(tmp_path / "servers.sqlite3")
    later = WED + 3600
    oracle = terminal(str(tmp_path / "oracle.sqlite3"), later + 1)
    ticks = oracle.copy_ticks_range("GBPUSD", int(WED), int(later), c.COPY_TICKS_ALL)
    assert ticks is not None and len(ticks) > 100
    ticks = ticks[ticks["time_msc"] > int(WED * 1000)]
    price = round(float(ticks["ask"].min()) + 0.00002, 5)
    placed = terminal(store, WED).order_send({"action": c.TRADE_ACTION_PENDING, "symbol": "GBPUSD", "volume": 0.1,
                                              "type": c.ORDER_TYPE_BUY_LIMIT, "price": price})  # fmt: skip
    assert placed is not None and placed.retcode == c.TRADE_RETCODE_PLACED
    hit = ticks[np.flatnonzero(ticks["ask"] <= price)[0]]

    context = multiprocessing.get_context("spawn")
    barrier, seen = context.Barrier(PROCESSES), context.Queue()
    processes = [context.Process(target=look, args=(store, later, barrier, seen)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    views = [seen.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(30)
        assert process.exitcode == 0

    expected = [(placed.order, float(hit["ask"]), int(hit["time_msc"]))]
    assert all(view == expected for view in views), views
    after = terminal(store, later)
    assert len(after.history_deals_get(position=placed.order) or ()) == 1
    assert [o.state for o in after.history_orders_get(ticket=placed.order) or ()] == [c.ORDER_STATE_FILLED]
