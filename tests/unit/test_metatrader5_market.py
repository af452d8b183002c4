"""The real-SDK adapter's market side, over the stand-in ``MetaTrader5`` module (the simulator behind the SDK's
functions, answering the SDK's record types: ``harness/sdk_standin.py``): calls pass through with the SDK's argument
conventions, records come back as this package's named tuples, arrays as numpy structured arrays."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from harness.sdk_standin import standin
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.arrays import RATES_DTYPE, TICKS_DTYPE
from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal
from mt5_worker.terminal.records import BookInfo, SymbolInfo, Tick
from tests.conftest import creds

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

NOW = datetime(2025, 11, 19, 14, 30, 12, tzinfo=UTC).timestamp()


class Recorder(SimulatedTerminal):
    """The simulator, noting how each market function was called."""

    def __init__(self) -> None:
        super().__init__(clock=lambda: NOW)
        self.seen: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name.startswith(("symbol", "copy_", "market_book")) and callable(attribute):

            def record(*args: Any, **kwargs: Any) -> Any:
                self.seen.append((name, args, kwargs))
                return attribute(*args, **kwargs)

            return record
        return attribute


def connected() -> tuple[MetaTrader5Terminal, Recorder]:
    module = Recorder()
    terminal = MetaTrader5Terminal(module=standin(module))
    assert terminal.initialize() is True
    assert terminal.login(*creds(DEMO_ACCOUNTS[0])) is True
    return terminal, module


def test_records_are_rebuilt_as_this_packages_named_tuples() -> None:
    terminal, _ = connected()
    assert 9 == terminal.symbols_total()
    symbols = terminal.symbols_get()
    assert symbols is not None and all(type(s) is SymbolInfo for s in symbols)
    assert ["GBPUSD"] == [s.name for s in terminal.symbols_get(group="GBP*")]  # type: ignore[union-attr]
    assert type(terminal.symbol_info("EURUSD")) is SymbolInfo
    assert type(terminal.symbol_info_tick("EURUSD")) is Tick
    assert terminal.market_book_add("EURUSD") is True
    book = terminal.market_book_get("EURUSD")
    assert book is not None and all(type(entry) is BookInfo for entry in book)
    assert terminal.market_book_release("EURUSD") is True
    assert terminal.symbol_select("USDCHF", True) is True


def test_arrays_pass_through_as_numpy_structured_arrays() -> None:
    terminal, module = connected()
    since = datetime(2025, 11, 19, 12, tzinfo=UTC)
    for rates in (
        terminal.copy_rates_from("EURUSD", c.TIMEFRAME_M5, since, 10),
        terminal.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M5, 0, 10),
        terminal.copy_rates_range("EURUSD", c.TIMEFRAME_M5, since, int(NOW)),
    ):
        assert isinstance(rates, np.ndarray) and RATES_DTYPE == rates.dtype and len(rates) >= 10
    for ticks in (
        terminal.copy_ticks_from("EURUSD", since, 100, c.COPY_TICKS_ALL),
        terminal.copy_ticks_range("EURUSD", since, int(NOW), c.COPY_TICKS_INFO),
    ):
        assert isinstance(ticks, np.ndarray) and TICKS_DTYPE == ticks.dtype and len(ticks) >= 100
    calls = [(name, kwargs) for name, _, kwargs in module.seen if name.startswith("copy_")]
    assert 5 == len(calls) and all(kwargs == {} for _, kwargs in calls)  # every argument positional


def test_failures_come_back_as_none_and_the_sdks_error() -> None:
    terminal, _ = connected()
    assert terminal.symbol_info("NOPE") is None
    assert (-4, "Terminal: Not found") == terminal.last_error()
    assert terminal.copy_rates_from_pos("NOPE", c.TIMEFRAME_M1, 0, 10) is None
    assert (-1, "Terminal: Call failed") == terminal.last_error()
    assert terminal.market_book_get("EURUSD") is None
    assert terminal.symbols_get(group="NONE") == ()
    terminal.shutdown()
    assert terminal.symbols_total() is None
    assert (-10004, "No IPC connection") == terminal.last_error()


def test_symbols_get_passes_group_only_when_set() -> None:
    terminal, module = connected()
    terminal.symbols_get()
    terminal.symbols_get("EUR*")
    assert [((), {}), ((), {"group": "EUR*"})] == [(a, k) for n, a, k in module.seen if n == "symbols_get"]
