"""The market side across a real bridge process: records rebuilt, numpy arrays crossing as dtype description +
bytes (never pickled), the SDK's errors passed through. The bridge's simulator runs on real time, so answers are
compared with an in-process simulator over ranges already in the past (history does not change)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from harness.env import simulated_now
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.arrays import RATES_DTYPE, TICKS_DTYPE
from mt5_worker.terminal.records import BookInfo, SymbolInfo, Tick
from tests.bridge_fixtures import RemoteSimulator
from tests.conftest import creds, simulator

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

NO_IPC = (-10004, "No IPC connection")


def local() -> SimulatedTerminal:
    sim = simulator()
    sim.initialize()
    sim.login(*creds(DEMO_ACCOUNTS[0]))
    return sim


def logged_in(remote: RemoteSimulator) -> RemoteSimulator:
    assert remote.initialize() is True
    assert remote.login(*creds(DEMO_ACCOUNTS[0])) is True
    return remote


def yesterday(hour: int) -> int:
    return (int(simulated_now()) // 86400 - 1) * 86400 + hour * 3600


def test_market_calls_need_a_connection_across_the_bridge(bridge_sim: RemoteSimulator) -> None:
    assert bridge_sim.symbols_total() is None
    assert NO_IPC == bridge_sim.last_error()
    assert bridge_sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 0, 10) is None
    assert NO_IPC == bridge_sim.last_error()
    assert bridge_sim.symbol_select("EURUSD", True) is False
    assert NO_IPC == bridge_sim.last_error()


def test_symbols_and_ticks_come_back_as_records(bridge_sim: RemoteSimulator) -> None:
    remote, here = logged_in(bridge_sim), local()
    assert here.symbols_total() == remote.symbols_total()
    symbols = remote.symbols_get()
    assert symbols is not None and all(type(s) is SymbolInfo for s in symbols)
    assert [s.name for s in here.symbols_get(group="*,!*USD*")] == [  # type: ignore[union-attr]
        s.name
        for s in remote.symbols_get(group="*,!*USD*")  # type: ignore[union-attr]
    ]
    info = remote.symbol_info("XAUUSD")
    assert type(info) is SymbolInfo and (2, 100.0, "Metals\\XAUUSD") == (
        info.digits,
        info.trade_contract_size,
        info.path,
    )
    tick = remote.symbol_info_tick("EURUSD")
    assert type(tick) is Tick and tick.ask > tick.bid and tick.time_msc <= simulated_now() * 1000
    assert remote.symbol_select("USDCHF", True) is True
    assert remote.symbol_info("USDCHF").select is True  # type: ignore[union-attr]


def test_market_book_across_the_bridge(bridge_sim: RemoteSimulator) -> None:
    remote = logged_in(bridge_sim)
    assert remote.market_book_get("EURUSD") is None
    assert (-1, "Terminal: Call failed") == remote.last_error()
    assert remote.market_book_add("EURUSD") is True
    book = remote.market_book_get("EURUSD")
    assert book is not None and 10 == len(book) and all(type(entry) is BookInfo for entry in book)
    assert {c.BOOK_TYPE_SELL, c.BOOK_TYPE_BUY} == {entry.type for entry in book}
    assert remote.market_book_release("EURUSD") is True


def test_bars_and_ticks_cross_as_the_same_arrays(bridge_sim: RemoteSimulator) -> None:
    remote, here = logged_in(bridge_sim), local()
    start, end = yesterday(10), yesterday(12)
    bars = remote.copy_rates_range("BTCUSD", c.TIMEFRAME_M1, start, end)
    assert isinstance(bars, np.ndarray) and RATES_DTYPE == bars.dtype and 121 == len(bars)
    assert bars.flags.writeable
    assert here.copy_rates_range("BTCUSD", c.TIMEFRAME_M1, start, end).tobytes() == bars.tobytes()  # type: ignore[union-attr]
    when = datetime(2025, 6, 2, tzinfo=UTC)
    days = remote.copy_rates_from("EURUSD", c.TIMEFRAME_D1, when, 50)
    assert days is not None and 50 == len(days)
    assert here.copy_rates_from("EURUSD", c.TIMEFRAME_D1, when, 50).tobytes() == days.tobytes()  # type: ignore[union-attr]
    ticks = remote.copy_ticks_range("BTCUSD", start, start + 3600, c.COPY_TICKS_ALL)
    assert isinstance(ticks, np.ndarray) and TICKS_DTYPE == ticks.dtype and len(ticks) > 240
    assert here.copy_ticks_range("BTCUSD", start, start + 3600, c.COPY_TICKS_ALL).tobytes() == ticks.tobytes()  # type: ignore[union-attr]
    from_date = remote.copy_ticks_from("BTCUSD", datetime.fromtimestamp(start, UTC), len(ticks), c.COPY_TICKS_INFO)
    assert from_date is not None and from_date.tobytes() == ticks.tobytes()
    latest = remote.copy_rates_from_pos("EURUSD", c.TIMEFRAME_H1, 0, 24)
    assert latest is not None and 24 == len(latest) and latest["time"][-1] <= simulated_now()


def test_empty_arrays_and_errors_cross(bridge_sim: RemoteSimulator) -> None:
    remote = logged_in(bridge_sim)
    none = remote.copy_ticks_range("EURUSD", yesterday(10), yesterday(11), c.COPY_TICKS_TRADE)
    assert none is not None and 0 == len(none) and TICKS_DTYPE == none.dtype
    assert remote.copy_rates_from_pos("NOPE", c.TIMEFRAME_M1, 0, 5) is None
    assert (-1, "Terminal: Call failed") == remote.last_error()
    assert remote.symbol_info("NOPE") is None
    assert (-4, "Terminal: Not found") == remote.last_error()
    assert remote.copy_rates_from("EURUSD", c.TIMEFRAME_M1, 1.5, 5) is None  # type: ignore[arg-type]
    assert (-2, 'Invalid "date_from" argument') == remote.last_error()
    assert remote.copy_rates_from_pos("EURUSD", 7, 0, 5) is None
    assert (-2, 'Invalid "timeframe" argument') == remote.last_error()
    assert remote.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 100_000, 5) is None
    assert (-1, "Terminal: Call failed") == remote.last_error()


def test_faults_on_market_functions_cross(bridge_sim: RemoteSimulator) -> None:
    remote = logged_in(bridge_sim)
    remote.inject_fault("copy_rates_from_pos", fail_first=1, code=-10005)
    assert remote.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 0, 5) is None
    assert (-10005, "IPC timeout") == remote.last_error()
    assert remote.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 0, 5) is not None
    assert 2 == remote.calls["copy_rates_from_pos"]
