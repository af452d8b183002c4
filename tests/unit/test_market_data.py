"""Market-data reads through the manager: validation before any SDK call, JSON-ready answers, the SDK's forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mt5_worker.client.frames import to_frame
from mt5_worker.errors import InvalidRequestError, PermanentMT5Error
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager import market_requests as req
from mt5_worker.manager.market_data import MarketData
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal.arrays import RATES_DTYPE, TICKS_DTYPE
from mt5_worker.terminal.constants import COPY_TICKS_INFO, TIMEFRAME_H4, TIMEFRAME_M1

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

A = DEMO_ACCOUNTS[0]
ACCOUNT = {"password": A.password.get_secret_value(), "server": A.server}
NOW = datetime(2026, 11, 4, 12, 0, 0, tzinfo=UTC).timestamp()  # a Wednesday: the market is open


@pytest.fixture
def sim() -> SimulatedTerminal:
    return SimulatedTerminal(clock=lambda: NOW)


@pytest.fixture
def market(sim: SimulatedTerminal) -> MarketData:
    return MarketData(MT5ConnectionManager(sim, Settings.load(_env_file=None), sleep=lambda _: None), max_rows=1000)


def test_rates_come_column_wise_with_the_sdk_dtype_names_and_plain_python_numbers(market: MarketData) -> None:
    bars = market.rates(A.login, "EURUSD", "M1", start_pos=0, count=5, **ACCOUNT)
    assert list(RATES_DTYPE.names or ()) == list(bars)
    assert all(5 == len(column) for column in bars.values())
    assert all(type(t) is int for t in bars["time"]) and all(type(p) is float for p in bars["close"])
    assert json.loads(json.dumps(bars)) == bars  # JSON as it is


def test_the_three_rates_forms_agree_on_the_same_bars(market: MarketData) -> None:
    by_pos = market.rates(A.login, "EURUSD", "H4", start_pos=1, count=6, **ACCOUNT)
    first, last = by_pos["time"][0], by_pos["time"][-1]
    by_date = market.rates(A.login, "EURUSD", TIMEFRAME_H4, date_from=last, count=6, **ACCOUNT)
    iso = datetime.fromtimestamp(first, UTC).isoformat()
    by_range = market.rates(A.login, "EURUSD", "h4", date_from=iso, date_to=last, **ACCOUNT)
    assert by_pos == by_range == by_date
    assert by_pos == market.rates(A.login, "EURUSD", "H4", start_pos=1, count=6, **ACCOUNT)  # deterministic


def test_ticks_by_count_and_by_range_agree_and_have_the_eight_columns(market: MarketData) -> None:
    start = int(NOW) - 3600
    some = market.ticks(A.login, "EURUSD", date_from=start, count=20, **ACCOUNT)
    assert list(TICKS_DTYPE.names or ()) == list(some)
    until = some["time"][-1] + 1  # date_to in whole seconds: past the last tick's millisecond
    ranged = market.ticks(A.login, "EURUSD", date_from=start, date_to=until, flags="info", **ACCOUNT)
    assert some["time_msc"] == ranged["time_msc"][:20]


def test_records_symbols_tick_and_book(market: MarketData) -> None:
    names = [s["name"] for s in market.symbols(A.login, "*USD*,!*JPY*", **ACCOUNT)]
    assert "EURUSD" in names and not any("JPY" in n for n in names)
    info = market.symbol_info(A.login, "EURUSD", **ACCOUNT)
    assert ("EURUSD", 5) == (info["name"], info["digits"])
    tick = market.symbol_tick(A.login, "EURUSD", **ACCOUNT)
    assert tick["ask"] > tick["bid"] > 0
    book = market.market_book(A.login, "EURUSD", **ACCOUNT)
    assert book and {"type", "price", "volume", "volume_dbl"} == set(book[0])


def test_an_unknown_symbol_is_the_terminals_error(market: MarketData) -> None:
    with pytest.raises(PermanentMT5Error):
        market.symbol_info(A.login, "NOSUCH", **ACCOUNT)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_pos": 0}, "give start_pos \\+ count"),
        ({"start_pos": 0, "count": 5, "date_from": 1}, "give start_pos"),
        ({"start_pos": -1, "count": 5}, "start_pos"),
        ({"start_pos": 0, "count": 1001}, "1 to 1000 \\(MT5_MAX_ROWS\\)"),
        ({"date_from": "yesterday", "count": 5}, "date_from"),
        ({"date_from": 200, "date_to": 100}, "date_to is before date_from"),
        ({"date_from": True, "count": 5}, "date_from"),
    ],
)
def test_bad_rates_requests_fail_before_any_sdk_call(
    market: MarketData, sim: SimulatedTerminal, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        market.rates(A.login, "EURUSD", "M1", **kwargs, **ACCOUNT)
    assert 0 == sum(sim.calls.values())


def test_a_range_over_max_rows_says_how_to_narrow_it(market: MarketData) -> None:
    with pytest.raises(InvalidRequestError, match="narrow it"):
        market.rates(A.login, "EURUSD", "M1", date_from=int(NOW) - 86400 * 2, date_to=int(NOW), **ACCOUNT)


def test_dates_timeframes_and_flags_take_what_json_clients_write() -> None:
    assert 1793793600 == req.date("2026-11-04T12:00:00Z", "d") == req.date("2026-11-04T12:00:00", "d")
    assert 1793793600 == req.date("2026-11-04T13:00:00+01:00", "d") == req.date(1793793600, "d")
    assert TIMEFRAME_M1 == req.timeframe("M1") == req.timeframe("TIMEFRAME_M1") == req.timeframe(1)
    assert COPY_TICKS_INFO == req.tick_flags("INFO") == req.tick_flags(COPY_TICKS_INFO)


@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=80), st.binary(max_size=8),
        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
)  # fmt: skip
def test_any_argument_is_either_accepted_or_refused_with_invalid_request(value: object) -> None:
    for check in (lambda v: req.symbol(v), req.mask, req.timeframe, lambda v: req.date(v, "date_from"),
                  lambda v: req.count(v, 1000), req.start_pos, req.tick_flags):  # fmt: skip
        try:
            check(value)
        except InvalidRequestError as exc:
            assert "invalid" in exc.message


def test_to_frame_gives_utc_times() -> None:
    frame = to_frame({"time": [1793793600], "close": [1.1], "time_msc": [1793793600123]})
    assert "2026-11-04 12:00:00+00:00" == str(frame["time"][0])
    assert 123 == frame["time_msc"][0].microsecond // 1000
