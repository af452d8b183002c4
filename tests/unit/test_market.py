"""The market side of the port on the simulator: shapes, argument handling, errors, determinism and agreement
between ticks and bars (docs/sdk-market-data.md)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.simulator.market import HISTORY_START, Market
from mt5_worker.simulator.specs import LATENCY_PROFILES
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.arrays import RATES_DTYPE, TICKS_DTYPE
from mt5_worker.terminal.port import FUNCTIONS, MARKET_FUNCTIONS
from mt5_worker.terminal.records import BookInfo, SymbolInfo, Tick
from tests.conftest import ManualClock, creds

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

NO_IPC = (-10004, "No IPC connection")
NOT_FOUND = (-4, "Terminal: Not found")
CALL_FAILED = (-1, "Terminal: Call failed")
SUCCESS = (1, "Success")
KEYWORDS_REFUSED = (-2, "Invalid parameters")
WRONG_COUNT = (-2, "Invalid number of arguments")

# Wednesday 2025-11-19 14:30:12.345 UTC: a trading day.
NOW = datetime(2025, 11, 19, 14, 30, 12, 345000, tzinfo=UTC).timestamp()
# Saturday 2025-11-22 10:00 UTC: FX is closed.
SATURDAY = datetime(2025, 11, 22, 10, 0, tzinfo=UTC).timestamp()

_SYMBOL_FIELDS_TEXT = (
    "custom chart_mode select visible session_deals session_buy_orders session_sell_orders volume volumehigh "
    "volumelow time digits spread spread_float ticks_bookdepth trade_calc_mode trade_mode start_time "
    "expiration_time trade_stops_level trade_freeze_level trade_exemode swap_mode swap_rollover3days "
    "margin_hedged_use_leg expiration_mode filling_mode order_mode order_gtc_mode option_mode option_right bid "
    "bidhigh bidlow ask askhigh asklow last lasthigh lastlow volume_real volumehigh_real volumelow_real "
    "option_strike point trade_tick_value trade_tick_value_profit trade_tick_value_loss trade_tick_size "
    "trade_contract_size trade_accrued_interest trade_face_value trade_liquidity_rate volume_min volume_max "
    "volume_step volume_limit swap_long swap_short margin_initial margin_maintenance session_volume "
    "session_turnover session_interest session_buy_orders_volume session_sell_orders_volume session_open "
    "session_close session_aw session_price_settlement session_price_limit_min session_price_limit_max "
    "margin_hedged price_change price_volatility price_theoretical price_greeks_delta price_greeks_theta "
    "price_greeks_gamma price_greeks_vega price_greeks_rho price_greeks_omega price_sensitivity basis category "
    "currency_base currency_profit currency_margin bank description exchange formula isin name page path"
)
SYMBOL_FIELDS = _SYMBOL_FIELDS_TEXT.split()  # the SDK's order (mt5symbolselect_py's example output)


def sim_at(now: float = NOW, account: int = 0, **kwargs: Any) -> SimulatedTerminal:
    sim = SimulatedTerminal(clock=lambda: now, **kwargs)
    assert sim.initialize() is True
    assert sim.login(*creds(DEMO_ACCOUNTS[account])) is True
    return sim


@pytest.fixture
def sim() -> SimulatedTerminal:
    return sim_at()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- shapes -----------------------------------------------------------------------------------------------------


def test_record_fields_are_the_sdks_in_order() -> None:
    assert 96 == len(SymbolInfo._fields)
    assert SYMBOL_FIELDS == list(SymbolInfo._fields)
    assert ["time", "bid", "ask", "last", "volume", "time_msc", "flags", "volume_real"] == list(Tick._fields)
    assert ["type", "price", "volume", "volume_dbl"] == list(BookInfo._fields)


def test_array_dtypes_are_the_sdks() -> None:
    assert [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<u8"),
        ("spread", "<i4"),
        ("real_volume", "<u8"),
    ] == RATES_DTYPE.descr
    assert [
        ("time", "<i8"),
        ("bid", "<f8"),
        ("ask", "<f8"),
        ("last", "<f8"),
        ("volume", "<u8"),
        ("time_msc", "<i8"),
        ("flags", "<u4"),
        ("volume_real", "<f8"),
    ] == TICKS_DTYPE.descr


def test_constants_have_the_sdks_values() -> None:
    values = [
        1,
        2,
        3,
        4,
        5,
        6,
        10,
        12,
        15,
        20,
        30,
        16385,
        16386,
        16387,
        16388,
        16390,
        16392,
        16396,
        16408,
        32769,
        49153,
    ]
    assert values == [
        c.TIMEFRAME_M1,
        c.TIMEFRAME_M2,
        c.TIMEFRAME_M3,
        c.TIMEFRAME_M4,
        c.TIMEFRAME_M5,
        c.TIMEFRAME_M6,
        c.TIMEFRAME_M10,
        c.TIMEFRAME_M12,
        c.TIMEFRAME_M15,
        c.TIMEFRAME_M20,
        c.TIMEFRAME_M30,
        c.TIMEFRAME_H1,
        c.TIMEFRAME_H2,
        c.TIMEFRAME_H3,
        c.TIMEFRAME_H4,
        c.TIMEFRAME_H6,
        c.TIMEFRAME_H8,
        c.TIMEFRAME_H12,
        c.TIMEFRAME_D1,
        c.TIMEFRAME_W1,
        c.TIMEFRAME_MN1,
    ]
    assert (-1, 1, 2) == (c.COPY_TICKS_ALL, c.COPY_TICKS_INFO, c.COPY_TICKS_TRADE)
    assert (2, 4, 8, 16, 32, 64) == (
        c.TICK_FLAG_BID,
        c.TICK_FLAG_ASK,
        c.TICK_FLAG_LAST,
        c.TICK_FLAG_VOLUME,
        c.TICK_FLAG_BUY,
        c.TICK_FLAG_SELL,
    )
    assert (1, 2, 3, 4) == (c.BOOK_TYPE_SELL, c.BOOK_TYPE_BUY, c.BOOK_TYPE_SELL_MARKET, c.BOOK_TYPE_BUY_MARKET)
    assert (1, 5, 6, 7, 8, 10) == (
        c.TRADE_ACTION_DEAL,
        c.TRADE_ACTION_PENDING,
        c.TRADE_ACTION_SLTP,
        c.TRADE_ACTION_MODIFY,
        c.TRADE_ACTION_REMOVE,
        c.TRADE_ACTION_CLOSE_BY,
    )
    assert (0, 1, 8) == (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL, c.ORDER_TYPE_CLOSE_BY)
    assert (1, 2, 4) == (c.SYMBOL_FILLING_FOK, c.SYMBOL_FILLING_IOC, c.SYMBOL_FILLING_BOC)
    assert (0, 1, 2, 3) == (c.ORDER_FILLING_FOK, c.ORDER_FILLING_IOC, c.ORDER_FILLING_RETURN, c.ORDER_FILLING_BOC)
    assert 4 == c.SYMBOL_TRADE_MODE_FULL


def test_market_functions_are_port_functions() -> None:
    assert set(MARKET_FUNCTIONS) <= set(FUNCTIONS)
    assert 32 == len(FUNCTIONS) == len(set(FUNCTIONS))  # 20 of the market side, 11 of the account side, order_send


def test_symbols_get_returns_symbol_infos_of_every_symbol(sim: SimulatedTerminal) -> None:
    symbols = sim.symbols_get()
    assert isinstance(symbols, tuple)
    assert sim.symbols_total() == len(symbols) >= 6
    assert {"EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500", "BTCUSD"} <= {s.name for s in symbols}
    assert all(type(s) is SymbolInfo for s in symbols)
    info = sim.symbol_info("EURUSD")
    assert info is not None and SYMBOL_FIELDS == list(info._asdict())
    assert (5, 1e-05, 100000.0, 0.01, 0.01) == (
        info.digits,
        info.point,
        info.trade_contract_size,
        info.volume_min,
        info.volume_step,
    )
    assert ("EUR", "USD", "EUR") == (info.currency_base, info.currency_profit, info.currency_margin)
    assert info.bidlow <= info.bid <= info.bidhigh and info.ask > info.bid
    assert info.spread == round((info.ask - info.bid) / info.point)
    assert 3 == sim.symbol_info("USDJPY").digits  # type: ignore[union-attr]
    assert SUCCESS == sim.last_error()


def test_symbols_get_filters_by_group_positionally_or_by_keyword(sim: SimulatedTerminal) -> None:
    names = [s.name for s in sim.symbols_get(group="*,!*USD*")]  # type: ignore[union-attr]
    assert names == [s.name for s in sim.symbols_get("*,!*USD*")]  # type: ignore[union-attr]
    assert names and all("USD" not in n for n in names)
    assert () == sim.symbols_get(group="NOTHING*")
    assert sim.symbols_get(group=5) is None
    assert (-2, 'Invalid "group" argument') == sim.last_error()


def test_symbol_info_tick_is_the_last_tick(sim: SimulatedTerminal) -> None:
    tick = sim.symbol_info_tick("EURUSD")
    assert type(tick) is Tick
    assert tick.time_msc <= NOW * 1000 < tick.time_msc + 60_000
    assert tick.time == tick.time_msc // 1000
    last = sim.copy_ticks_range("EURUSD", int(NOW) - 60, int(NOW) + 60, c.COPY_TICKS_ALL)
    assert last is not None and (tick.bid, tick.ask, tick.time_msc) == (
        last[-1]["bid"],
        last[-1]["ask"],
        last[-1]["time_msc"],
    )


@pytest.mark.parametrize("rate", [None, 5.0])
def test_a_last_tick_asked_again_and_again_is_the_one_a_new_market_works_out(rate: float | None) -> None:
    """A market answers from the span of "now" its last answer holds for; a new one has no such span."""
    market = Market("MetaQuotes-Demo", tick_rate=rate)
    now = int(datetime(2025, 11, 21, 21, 58, tzinfo=UTC).timestamp() * 1000)  # Friday, just before FX closes
    steps = [1, 7, 130, 999, 45_000, -3, -20_000, 3_600_000]  # within a tick's span, across ticks, minutes, hours
    seen = set()
    for i in range(160):  # 20 hours: FX closing for the weekend, crypto trading throughout
        now += steps[i % len(steps)]
        for name in ("EURUSD", "BTCUSD"):
            tick = market.tick(name, now)
            assert Market("MetaQuotes-Demo", tick_rate=rate).tick(name, now) == tick
            seen.add(tick)
    assert len(seen) > 60  # the answers changed as time moved: the test saw spans end


def test_a_steady_watch_gives_the_span_over_which_every_tick_it_saw_stays_the_same() -> None:
    market = Market("MetaQuotes-Demo", tick_rate=5.0)
    now = int(datetime(2025, 11, 19, 14, 0, 7, tzinfo=UTC).timestamp() * 1000)  # Wednesday: every market open
    names = ("EURUSD", "GBPUSD", "BTCUSD")
    with market.steady() as outer:
        with market.steady() as inner:
            ticks = [market.tick(name, now) for name in names[:2]]
        market.tick(names[2], now)
    since, until = inner
    assert since <= now < until < now + 60_000  # a minute at most
    for edge, same in ((since, True), (until - 1, True), (since - 1, False), (until, False)):
        fresh = Market("MetaQuotes-Demo", tick_rate=5.0)
        assert ([fresh.tick(name, edge) for name in names[:2]] == ticks) is same, (edge, same)
    assert inner[0] <= outer[0] <= now < outer[1] <= inner[1]  # the outer watch saw the inner one's ticks too


def test_a_steady_watch_sees_only_its_own_threads_ticks() -> None:
    market = Market("MetaQuotes-Demo", tick_rate=5.0)
    now = int(datetime(2025, 11, 19, 14, 0, 7, tzinfo=UTC).timestamp() * 1000)
    other: list[list[int]] = []

    def watch_in_another_thread() -> None:
        with market.steady() as span:
            market.tick("BTCUSD", now + 7_000)  # another "now" altogether: nothing this thread's watch may see
        other.append(span)

    with market.steady() as mine:
        market.tick("EURUSD", now)
        thread = threading.Thread(target=watch_in_another_thread)
        thread.start()
        thread.join()
    assert mine[0] <= now < mine[1]
    assert other[0][0] > now  # the other thread's watch saw its own tick
    with market.steady() as alone:
        market.tick("EURUSD", now)
    assert mine == alone  # the other thread's tick did not narrow this watch


# --- errors -------------------------------------------------------------------------------------------------------

CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("symbols_total", ()),
    ("symbols_get", ()),
    ("symbol_info", ("EURUSD",)),
    ("symbol_info_tick", ("EURUSD",)),
    ("symbol_select", ("EURUSD", True)),
    ("market_book_add", ("EURUSD",)),
    ("market_book_get", ("EURUSD",)),
    ("market_book_release", ("EURUSD",)),
    ("copy_rates_from", ("EURUSD", c.TIMEFRAME_M1, int(NOW), 10)),
    ("copy_rates_from_pos", ("EURUSD", c.TIMEFRAME_M1, 0, 10)),
    ("copy_rates_range", ("EURUSD", c.TIMEFRAME_M1, int(NOW) - 3600, int(NOW))),
    ("copy_ticks_from", ("EURUSD", int(NOW) - 60, 10, c.COPY_TICKS_ALL)),
    ("copy_ticks_range", ("EURUSD", int(NOW) - 60, int(NOW), c.COPY_TICKS_ALL)),
]
FAILED = {"symbol_select": False, "market_book_add": False, "market_book_release": False}


@pytest.mark.parametrize(("name", "args"), CALLS, ids=[name for name, _ in CALLS])
def test_every_market_function_needs_a_connection(name: str, args: tuple[Any, ...]) -> None:
    sim = SimulatedTerminal(clock=lambda: NOW)
    assert FAILED.get(name) == getattr(sim, name)(*args)
    assert NO_IPC == sim.last_error()
    sim.initialize()
    sim.shutdown()
    assert FAILED.get(name) == getattr(sim, name)(*args)
    assert NO_IPC == sim.last_error()


@pytest.mark.parametrize(("name", "args"), CALLS, ids=[name for name, _ in CALLS])
def test_faults_and_crashes_apply_to_market_functions(name: str, args: tuple[Any, ...]) -> None:
    sim = sim_at()
    sim.inject_fault(name, fail_first=1, code=-10002)
    assert FAILED.get(name) == getattr(sim, name)(*args)
    assert (-10002, "IPC recv failed") == sim.last_error()
    sim.crash()
    assert FAILED.get(name) == getattr(sim, name)(*args)
    assert (-10001, "IPC send failed") == sim.last_error()


def test_without_an_account_the_terminal_has_no_symbols() -> None:
    sim = SimulatedTerminal(clock=lambda: NOW)
    sim.initialize()
    assert 0 == sim.symbols_total()
    assert () == sim.symbols_get()
    assert sim.symbol_info("EURUSD") is None
    assert NOT_FOUND == sim.last_error()


def test_unknown_symbols(sim: SimulatedTerminal) -> None:
    for name in ("symbol_info", "symbol_info_tick", "market_book_add", "market_book_get", "market_book_release"):
        assert getattr(sim, name)("NOPE") in (None, False)
        assert NOT_FOUND == sim.last_error(), name
    assert sim.symbol_select("NOPE", True) is False
    assert NOT_FOUND == sim.last_error()
    for name, args in CALLS[8:]:
        assert getattr(sim, name)("NOPE", *args[1:]) is None
        assert CALL_FAILED == sim.last_error(), name


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("copy_rates_from", ("EURUSD", c.TIMEFRAME_M1), {"date_from": int(NOW), "count": 10}),
        ("copy_rates_range", ("EURUSD", c.TIMEFRAME_M1, int(NOW) - 60), {"date_to": int(NOW)}),
        ("copy_rates_from_pos", ("EURUSD", c.TIMEFRAME_M1, 0), {"count": 10}),
        ("copy_ticks_from", ("EURUSD",), {"date_from": int(NOW) - 60, "count": 10, "flags": c.COPY_TICKS_ALL}),
        ("copy_ticks_range", ("EURUSD", int(NOW) - 60, int(NOW)), {"flags": c.COPY_TICKS_ALL}),
        ("symbol_info", (), {"symbol": "EURUSD"}),
        ("symbol_info_tick", (), {"symbol": "EURUSD"}),
        ("market_book_add", (), {"symbol": "EURUSD"}),
    ],
)
def test_unnamed_parameters_are_refused_as_keywords(
    sim: SimulatedTerminal, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    assert getattr(sim, name)(*args, **kwargs) in (None, False)
    assert KEYWORDS_REFUSED == sim.last_error()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (("copy_rates_from", 1, c.TIMEFRAME_M1, int(NOW), 10), 'Invalid "symbol" argument'),
        (("copy_rates_from", "EURUSD", "M1", int(NOW), 10), 'Invalid "timeframe" argument'),
        (("copy_rates_from", "EURUSD", True, int(NOW), 10), 'Invalid "timeframe" argument'),
        (("copy_rates_from", "EURUSD", 7, int(NOW), 10), 'Invalid "timeframe" argument'),
        (("copy_rates_from", "EURUSD", c.TIMEFRAME_M1, float(NOW), 10), 'Invalid "date_from" argument'),
        (("copy_rates_from", "EURUSD", c.TIMEFRAME_M1, "2025-01-01", 10), 'Invalid "date_from" argument'),
        (("copy_rates_from", "EURUSD", c.TIMEFRAME_M1, int(NOW), 0), 'Invalid "count" argument'),
        (("copy_rates_from", "EURUSD", c.TIMEFRAME_M1, int(NOW), 2.0), 'Invalid "count" argument'),
        (("copy_rates_from_pos", "EURUSD", c.TIMEFRAME_M1, -1, 10), 'Invalid "start_pos" argument'),
        (("copy_rates_range", "EURUSD", c.TIMEFRAME_M1, int(NOW), None), 'Invalid "date_to" argument'),
        (("copy_ticks_from", "EURUSD", int(NOW), 10, 5), 'Invalid "flags" argument'),
        (("copy_ticks_from", "EURUSD", int(NOW), -3, c.COPY_TICKS_ALL), 'Invalid "count" argument'),
        (("copy_ticks_range", "EURUSD", int(NOW), int(NOW), "all"), 'Invalid "flags" argument'),
        (("symbol_select", "EURUSD", "yes"), 'Invalid "enable" argument'),
        (("symbol_info", b"EURUSD"), 'Invalid "symbol" argument'),
        (("copy_rates_from", "EURUSD", c.TIMEFRAME_M1, int(NOW)), "Invalid number of arguments"),
        (("symbol_info", "EURUSD", "GBPUSD"), "Invalid number of arguments"),
        (("symbols_get", "*", "*"), "Invalid number of arguments"),
    ],
)
def test_wrong_arguments_fail_with_invalid_params(sim: SimulatedTerminal, call: tuple[Any, ...], error: str) -> None:
    name, *args = call
    assert getattr(sim, name)(*args) in (None, False)
    assert (-2, error) == sim.last_error()


def test_dates_are_datetimes_or_epoch_seconds(sim: SimulatedTerminal) -> None:
    as_int = sim.copy_rates_from("EURUSD", c.TIMEFRAME_H1, int(NOW), 5)
    as_datetime = sim.copy_rates_from("EURUSD", c.TIMEFRAME_H1, datetime.fromtimestamp(NOW, UTC), 5)
    assert as_int is not None and as_datetime is not None
    assert as_int.tobytes() == as_datetime.tobytes()
    assert as_int["time"][-1] <= NOW < as_int["time"][-1] + 3600


def test_symbol_select_takes_enable_positionally_or_by_keyword(sim: SimulatedTerminal) -> None:
    assert sim.symbol_info("USDCHF").select is False  # type: ignore[union-attr]
    assert sim.symbol_info_tick("USDCHF") is None  # not in Market Watch: no live ticks
    assert CALL_FAILED == sim.last_error()
    assert sim.symbol_select("USDCHF") is True
    assert sim.symbol_info("USDCHF").select is True  # type: ignore[union-attr]
    assert sim.symbol_info_tick("USDCHF") is not None
    assert sim.symbol_select("USDCHF", enable=False) is True
    assert sim.symbol_info("USDCHF").visible is False  # type: ignore[union-attr]
    assert sim.copy_rates_from_pos("USDCHF", c.TIMEFRAME_M1, 0, 5) is not None  # history needs no selection


def test_market_book(sim: SimulatedTerminal) -> None:
    assert sim.market_book_get("EURUSD") is None
    assert CALL_FAILED == sim.last_error()
    assert sim.market_book_add("EURUSD") is True
    book = sim.market_book_get("EURUSD")
    tick = sim.symbol_info_tick("EURUSD")
    assert book is not None and tick is not None and all(type(e) is BookInfo for e in book)
    sells = [e for e in book if e.type == c.BOOK_TYPE_SELL]
    buys = [e for e in book if e.type == c.BOOK_TYPE_BUY]
    assert list(book) == sells + buys and len(sells) == len(buys) == 5
    assert [e.price for e in sells] == sorted((e.price for e in sells), reverse=True)
    assert [e.price for e in buys] == sorted((e.price for e in buys), reverse=True)
    assert (sells[-1].price, buys[0].price) == (tick.ask, tick.bid)
    assert all(e.volume > 0 and float(e.volume) == e.volume_dbl for e in book)
    assert book == sim.market_book_get("EURUSD")
    assert sim.market_book_release("EURUSD") is True
    assert sim.market_book_release("EURUSD") is False
    assert sim.market_book_get("EURUSD") is None


# --- bars and ticks ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeframe", list(c.TIMEFRAMES), ids=list(c.TIMEFRAMES.values()))
def test_the_three_rate_calls_agree_on_the_same_bars(timeframe: int) -> None:
    sim = sim_at()
    by_pos = sim.copy_rates_from_pos("EURUSD", timeframe, 3, 40)
    assert by_pos is not None and RATES_DTYPE == by_pos.dtype and 40 == len(by_pos)
    first, last = int(by_pos["time"][0]), int(by_pos["time"][-1])
    by_date = sim.copy_rates_from("EURUSD", timeframe, last, 40)
    by_range = sim.copy_rates_range("EURUSD", timeframe, first, last)
    assert by_date is not None and by_range is not None
    assert by_pos.tobytes() == by_date.tobytes() == by_range.tobytes()
    assert np.all(np.diff(by_pos["time"]) > 0)
    assert np.all(by_pos["high"] >= np.maximum(by_pos["open"], by_pos["close"]))
    assert np.all(by_pos["low"] <= np.minimum(by_pos["open"], by_pos["close"]))
    assert np.all(by_pos["tick_volume"] > 0) and np.all(by_pos["spread"] > 0) and np.all(by_pos["real_volume"] == 0)
    newest = sim.copy_rates_from_pos("EURUSD", timeframe, 0, 1)
    assert newest is not None and newest["time"][0] <= NOW  # the current bar
    seconds = c.timeframe_seconds(timeframe)
    if seconds is not None:
        assert np.all(by_pos["time"] % seconds == (0 if timeframe != c.TIMEFRAME_W1 else 3 * 86400))


def test_answers_are_deterministic_across_instances_and_differ_between_servers() -> None:
    a, b = sim_at(), sim_at()
    assert a.copy_rates_from_pos("XAUUSD", c.TIMEFRAME_M5, 0, 500).tobytes() == (  # type: ignore[union-attr]
        b.copy_rates_from_pos("XAUUSD", c.TIMEFRAME_M5, 0, 500).tobytes()  # type: ignore[union-attr]
    )
    start = int(NOW) - 7200
    assert a.copy_ticks_range("GBPUSD", start, int(NOW), -1).tobytes() == (  # type: ignore[union-attr]
        b.copy_ticks_range("GBPUSD", start, int(NOW), -1).tobytes()  # type: ignore[union-attr]
    )
    live = sim_at(account=5)  # Simulated-Live
    assert DEMO_ACCOUNTS[5].server != DEMO_ACCOUNTS[0].server
    assert a.symbol_info_tick("EURUSD").bid != live.symbol_info_tick("EURUSD").bid  # type: ignore[union-attr]
    seeded = sim_at(market_seed=7)
    assert a.symbol_info_tick("EURUSD").bid != seeded.symbol_info_tick("EURUSD").bid  # type: ignore[union-attr]


def test_history_does_not_change_as_time_passes() -> None:
    early = sim_at(NOW)
    later = sim_at(NOW + 5 * 86400 + 1234.5)
    bars = early.copy_rates_range("EURUSD", c.TIMEFRAME_M15, int(NOW) - 86400, int(NOW) - 900)
    again = later.copy_rates_range("EURUSD", c.TIMEFRAME_M15, int(NOW) - 86400, int(NOW) - 900)
    assert bars is not None and again is not None and len(bars) > 80
    assert bars.tobytes() == again.tobytes()


def minute_bars_from_ticks(ticks: np.ndarray, point: float) -> dict[int, tuple[float, float, float, float, int, int]]:
    bars: dict[int, tuple[float, float, float, float, int, int]] = {}
    minute = ticks["time"] // 60 * 60
    for start in np.unique(minute):
        t = ticks[minute == start]
        spread = int(np.round((t["ask"] - t["bid"]) / point).min())
        bars[int(start)] = (t["bid"][0], t["bid"].max(), t["bid"].min(), t["bid"][-1], len(t), spread)
    return bars


@pytest.mark.parametrize("symbol", ["EURUSD", "USDJPY", "XAUUSD", "BTCUSD"])
def test_m1_bars_are_built_from_the_ticks_they_cover(symbol: str) -> None:
    sim = sim_at()
    start = int(NOW) // 60 * 60 - 3 * 3600 - 60 * 7  # three hours back, to the current (unfinished) minute
    rates = sim.copy_rates_range(symbol, c.TIMEFRAME_M1, start, int(NOW))
    ticks = sim.copy_ticks_range(symbol, start, int(NOW) + 1, c.COPY_TICKS_ALL)
    point = sim.symbol_info(symbol).point  # type: ignore[union-attr]
    assert rates is not None and ticks is not None and len(rates) == 3 * 60 + 7 + 1
    assert np.all(np.diff(ticks["time_msc"]) >= 0) and ticks["time_msc"][-1] <= NOW * 1000
    from_ticks = minute_bars_from_ticks(ticks, point)
    assert sorted(from_ticks) == rates["time"].tolist()
    for bar in rates:
        expected = from_ticks[int(bar["time"])]
        assert expected == (bar["open"], bar["high"], bar["low"], bar["close"], bar["tick_volume"], bar["spread"])
    assert np.all(ticks["ask"] > ticks["bid"])
    assert np.all((ticks["flags"] & (c.TICK_FLAG_BID | c.TICK_FLAG_ASK)) != 0)
    assert np.all(ticks["last"] == 0) and np.all(ticks["volume"] == 0)


def aggregate(bars: np.ndarray, starts: np.ndarray) -> list[tuple[Any, ...]]:
    rows = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else np.iinfo(np.int64).max
        b = bars[(bars["time"] >= start) & (bars["time"] < end)]
        rows.append(
            (int(start), b["open"][0], b["high"].max(), b["low"].min(), b["close"][-1], int(b["tick_volume"].sum()),
             int(b["spread"].min()))
        )  # fmt: skip
    return rows


def as_rows(bars: np.ndarray) -> list[tuple[Any, ...]]:
    return [
        (int(b["time"]), b["open"], b["high"], b["low"], b["close"], int(b["tick_volume"]), int(b["spread"]))
        for b in bars
    ]


@pytest.mark.parametrize(
    ("small", "large", "span"),
    [
        (c.TIMEFRAME_M1, c.TIMEFRAME_M15, 4 * 3600),
        (c.TIMEFRAME_M1, c.TIMEFRAME_H1, 6 * 3600),
        (c.TIMEFRAME_M30, c.TIMEFRAME_H4, 2 * 86400),
        (c.TIMEFRAME_H1, c.TIMEFRAME_D1, 9 * 86400),
        (c.TIMEFRAME_D1, c.TIMEFRAME_W1, 40 * 86400),
        (c.TIMEFRAME_D1, c.TIMEFRAME_MN1, 100 * 86400),
    ],
)
def test_longer_bars_aggregate_shorter_ones(small: int, large: int, span: int) -> None:
    sim = sim_at()
    big = sim.copy_rates_range("EURUSD", large, int(NOW) - span, int(NOW))
    assert big is not None and len(big) >= 2
    parts = sim.copy_rates_range("EURUSD", small, int(big["time"][0]), int(NOW))
    assert parts is not None
    assert as_rows(big) == aggregate(parts, big["time"])


def test_the_current_bar_grows_with_the_clock() -> None:
    clock = ManualClock(NOW)
    sim = sim_at()
    sim._clock = clock  # same terminal, moving time
    before = sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_H1, 0, 3)
    clock.advance(600)
    after = sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_H1, 0, 3)
    assert before is not None and after is not None
    assert before[:2].tobytes() == after[:2].tobytes()
    assert before["time"][-1] == after["time"][-1]
    assert after["tick_volume"][-1] > before["tick_volume"][-1]
    assert after["close"][-1] == sim.symbol_info_tick("EURUSD").bid  # type: ignore[union-attr]


def test_fx_does_not_trade_at_weekends_but_crypto_does() -> None:
    sim = sim_at(SATURDAY)
    friday_close = datetime(2025, 11, 21, 22, 0, tzinfo=UTC).timestamp()
    eurusd = sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 0, 3)
    assert eurusd is not None and eurusd["time"][-1] == friday_close - 60
    assert sim.symbol_info_tick("EURUSD").time < friday_close  # type: ignore[union-attr]
    weekend = sim.copy_rates_range("EURUSD", c.TIMEFRAME_M1, int(friday_close), int(SATURDAY))
    assert weekend is not None and 0 == len(weekend) and SUCCESS == sim.last_error()
    assert 0 == len(sim.copy_ticks_range("EURUSD", int(friday_close), int(SATURDAY), -1))  # type: ignore[arg-type]
    btc = sim.copy_rates_from_pos("BTCUSD", c.TIMEFRAME_M1, 0, 3)
    assert btc is not None and btc["time"][-1] == SATURDAY
    hours = sim.copy_rates_range("EURUSD", c.TIMEFRAME_H1, int(SATURDAY) - 14 * 86400, int(SATURDAY))
    assert hours is not None
    weekdays = [datetime.fromtimestamp(int(t), UTC) for t in hours["time"]]
    assert all(d.weekday() < 5 or (d.weekday() == 6 and d.hour >= 22) for d in weekdays)
    assert len(hours) == 2 * 120  # two full trading weeks of hours


def test_maxbars_caps_the_history() -> None:
    sim = sim_at(maxbars=500)
    assert 500 == sim.terminal_info().maxbars  # type: ignore[union-attr]
    bars = sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 0, 10_000)
    assert bars is not None and 500 == len(bars)
    assert 10 == len(sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 490, 50))  # type: ignore[arg-type]
    assert sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 500, 1) is None
    assert CALL_FAILED == sim.last_error()
    oldest = int(bars["time"][0])
    assert sim.copy_rates_from("EURUSD", c.TIMEFRAME_M1, oldest - 1, 5) is None
    assert CALL_FAILED == sim.last_error()
    assert sim.copy_rates_range("EURUSD", c.TIMEFRAME_M1, 0, oldest - 1) is None
    clipped = sim.copy_rates_range("EURUSD", c.TIMEFRAME_M1, 0, oldest + 120)
    assert clipped is not None and [oldest, oldest + 60, oldest + 120] == clipped["time"].tolist()


def test_default_maxbars_and_history_start() -> None:
    sim = sim_at()
    assert 100_000 == sim.terminal_info().maxbars  # type: ignore[union-attr]
    assert 100_000 == len(sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 0, 200_000))  # type: ignore[arg-type]
    months = sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_MN1, 0, 1000)
    assert months is not None and utc(2015, 1, 1).timestamp() == months["time"][0] == HISTORY_START
    early = sim.copy_ticks_range("EURUSD", 0, HISTORY_START + 60, c.COPY_TICKS_ALL)
    assert early is not None and early["time"][0] == HISTORY_START


def test_100000_m1_bars_come_whole_in_one_call() -> None:
    """How long they take is bench D1's figure (docs/performance.md), not an assertion here."""
    sim = sim_at()
    bars = sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 0, 100_000)
    assert bars is not None and 100_000 == len(bars)
    assert (bars["time"][1:] > bars["time"][:-1]).all()


def test_ticks_from_a_date_and_by_flags(sim: SimulatedTerminal) -> None:
    start = utc(2025, 11, 18, 9, 0)
    ticks = sim.copy_ticks_from("EURUSD", start, 5000, c.COPY_TICKS_ALL)
    assert ticks is not None and TICKS_DTYPE == ticks.dtype and 5000 == len(ticks)
    assert ticks["time"][0] == start.timestamp() and np.all(np.diff(ticks["time_msc"]) >= 0)
    info = sim.copy_ticks_from("EURUSD", start, 5000, c.COPY_TICKS_INFO)
    assert info is not None and info.tobytes() == ticks.tobytes()
    trade = sim.copy_ticks_from("EURUSD", start, 5000, c.COPY_TICKS_TRADE)
    assert trade is not None and TICKS_DTYPE == trade.dtype and 0 == len(trade)
    ranged = sim.copy_ticks_range("EURUSD", start, int(ticks["time"][-1]) - 1, c.COPY_TICKS_ALL)
    assert ranged is not None and ranged.tobytes() == ticks[: len(ranged)].tobytes() and len(ranged) > 4000
    future = sim.copy_ticks_from("EURUSD", int(NOW) - 120, 10_000, c.COPY_TICKS_ALL)
    assert future is not None and 0 < len(future) < 100 and future["time_msc"][-1] <= NOW * 1000


def test_bulk_copies_cost_more_with_size() -> None:
    clock = ManualClock(NOW)
    sim = SimulatedTerminal(clock=clock, sleep=clock.sleep, latency=LATENCY_PROFILES["realistic"])
    sim.initialize()
    sim.login(*creds(DEMO_ACCOUNTS[0]))
    clock.sleeps.clear()
    sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 0, 10)
    small = sum(clock.sleeps)
    clock.sleeps.clear()
    sim.copy_rates_from_pos("EURUSD", c.TIMEFRAME_M1, 0, 100_000)
    large = sum(clock.sleeps)
    assert small == pytest.approx(0.002, rel=0.01)
    assert large == pytest.approx(0.002 + 0.002 * 100_000 / 2000)
    assert {name for name in MARKET_FUNCTIONS} <= set(LATENCY_PROFILES["realistic"])


# --- hypothesis over arguments ------------------------------------------------------------------------------------

SIM = sim_at()
symbols = st.sampled_from(["EURUSD", "BTCUSD", "US500", "NOPE"])
timeframes = st.one_of(st.sampled_from(list(c.TIMEFRAMES)), st.integers(-5, 70000))
dates = st.one_of(
    st.integers(0, int(NOW) + 86400),
    st.datetimes(datetime(2014, 1, 1), datetime(2025, 12, 1), timezones=st.just(UTC)),
)


def check_rates(result: np.ndarray | None, limit: int | None = None) -> None:
    if result is None:
        assert SIM.last_error() in (CALL_FAILED, (-2, 'Invalid "timeframe" argument'))
        return
    assert SUCCESS == SIM.last_error()
    assert RATES_DTYPE == result.dtype
    assert limit is None or len(result) <= limit
    assert np.all(np.diff(result["time"]) > 0)
    assert np.all(result["time"] <= NOW) and np.all(result["time"] >= HISTORY_START - 7 * 86400)
    assert np.all(result["low"] <= result["high"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(symbol=symbols, timeframe=timeframes, start_pos=st.integers(0, 150_000), count=st.integers(1, 3000))
def test_copy_rates_from_pos_over_arguments(symbol: str, timeframe: int, start_pos: int, count: int) -> None:
    result = SIM.copy_rates_from_pos(symbol, timeframe, start_pos, count)
    check_rates(result, count)
    if result is not None and len(result):
        assert result["time"][-1] == SIM.copy_rates_from_pos(symbol, timeframe, start_pos, 1)["time"][0]  # type: ignore[index]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(symbol=symbols, timeframe=timeframes, date=dates, count=st.integers(1, 3000))
def test_copy_rates_from_over_arguments(symbol: str, timeframe: int, date: datetime | int, count: int) -> None:
    result = SIM.copy_rates_from(symbol, timeframe, date, count)
    check_rates(result, count)
    seconds = int(date.timestamp()) if isinstance(date, datetime) else date
    if result is not None:
        assert np.all(result["time"] <= seconds) and len(result) >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(symbol=symbols, timeframe=st.sampled_from(list(c.TIMEFRAMES)[10:]), a=dates, b=dates)
def test_copy_rates_range_over_arguments(symbol: str, timeframe: int, a: datetime | int, b: datetime | int) -> None:
    result = SIM.copy_rates_range(symbol, timeframe, a, b)
    check_rates(result)
    lo = int(a.timestamp()) if isinstance(a, datetime) else a
    hi = int(b.timestamp()) if isinstance(b, datetime) else b
    if result is not None:
        assert np.all((result["time"] >= lo) & (result["time"] <= hi))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    symbol=symbols,
    date=st.integers(int(NOW) - 30 * 86400, int(NOW) + 60),
    count=st.integers(1, 20_000),
    flags=st.sampled_from([c.COPY_TICKS_ALL, c.COPY_TICKS_INFO, c.COPY_TICKS_TRADE]),
)
def test_copy_ticks_from_over_arguments(symbol: str, date: int, count: int, flags: int) -> None:
    result = SIM.copy_ticks_from(symbol, date, count, flags)
    if symbol == "NOPE":
        assert result is None and CALL_FAILED == SIM.last_error()
        return
    assert result is not None and TICKS_DTYPE == result.dtype and len(result) <= count
    if flags == c.COPY_TICKS_TRADE:
        assert 0 == len(result)
    elif len(result):
        assert result["time"][0] >= date and result["time_msc"][-1] <= NOW * 1000
        assert np.all(np.diff(result["time_msc"]) >= 0)
        assert np.all(result["time"] == result["time_msc"] // 1000)


@settings(max_examples=30, deadline=None)
@given(group=st.text(alphabet="EURSDJPYBTC*!, ", max_size=12))
def test_symbols_get_matches_the_mask_function(group: str) -> None:
    from mt5_worker.simulator.masks import select

    names = [s.name for s in SIM.symbols_get(group=group)]  # type: ignore[union-attr]
    assert select(group, Market("MetaQuotes-Demo").names) == names


def test_date_arguments_before_history_or_in_the_future() -> None:
    sim = sim_at()
    assert sim.copy_rates_from("EURUSD", c.TIMEFRAME_D1, utc(2010, 1, 1), 10) is None
    assert CALL_FAILED == sim.last_error()
    future = sim.copy_rates_from("EURUSD", c.TIMEFRAME_D1, int(NOW) + 10 * 86400, 2)
    assert future is not None and future["time"][-1] <= NOW
    assert 0 == len(sim.copy_ticks_range("EURUSD", int(NOW) + 60, int(NOW) + 3600, -1))  # type: ignore[arg-type]
    swapped = sim.copy_rates_range("EURUSD", c.TIMEFRAME_H1, int(NOW), int(NOW) - 86400)
    assert swapped is not None and 0 == len(swapped)


def test_a_naive_datetime_is_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = sim_at()
    naive = datetime(2025, 11, 18, 12, 0)
    expected = int(naive.timestamp())  # what Python's datetime says it is, in this process's zone
    bars = sim.copy_rates_from("EURUSD", c.TIMEFRAME_M1, naive, 1)
    assert bars is not None and bars["time"][0] == expected - expected % 60
    assert timedelta(0) <= datetime.fromtimestamp(expected, UTC) - datetime.fromtimestamp(int(bars["time"][0]), UTC)


@pytest.mark.parametrize("rate", [None, 20.0])
def test_a_recent_span_drawn_a_minute_at_a_time_is_the_same_as_drawn_whole(rate: float | None) -> None:
    """A feed's poll (a few seconds before now) takes the cached-minute path; a long range the vectorised one: the
    same ticks either way, at any tick rate."""
    now = 1_796_212_800 + 1800  # a Wednesday, 12:30 UTC
    sim = logged_in(SimulatedTerminal(clock=lambda: now, tick_rate=rate))
    whole = sim.copy_ticks_range("EURUSD", now - 3 * 3600, now, c.COPY_TICKS_ALL)
    for start in (now - 2, now - 61, now - 179):
        recent = sim.copy_ticks_range("EURUSD", start, now, c.COPY_TICKS_ALL)
        assert recent is not None and whole is not None and len(recent) > 0
        assert (whole[whole["time_msc"] >= start * 1000] == recent).all()
        first = sim.copy_ticks_from("EURUSD", start, 5, c.COPY_TICKS_ALL)
        assert first is not None and (recent[:5] == first).all()


def test_a_tick_rate_makes_bursts_seconds_of_many_ticks_and_milliseconds_of_several() -> None:
    now = 1_796_212_800 + 3600
    sim = logged_in(SimulatedTerminal(clock=lambda: now, tick_rate=20.0))
    ticks = sim.copy_ticks_range("EURUSD", now - 3600, now - 1, c.COPY_TICKS_ALL)
    assert ticks is not None
    per_second = np.bincount(ticks["time"] - (now - 3600))
    _, per_ms = np.unique(ticks["time_msc"], return_counts=True)
    assert 10 < per_second.mean() < 40 and per_second.max() > 10 * per_second.mean()
    assert per_ms.max() >= 3 and (per_ms > 1).sum() > 100
    again = logged_in(SimulatedTerminal(clock=lambda: now, tick_rate=20.0)).copy_ticks_range(
        "EURUSD", now - 3600, now - 1, c.COPY_TICKS_ALL
    )
    assert again is not None and (again == ticks).all()  # a pure function of (seed, server, symbol, time, rate)


def logged_in(sim: SimulatedTerminal) -> SimulatedTerminal:
    account = DEMO_ACCOUNTS[0]
    assert sim.initialize(login=account.login, password=account.password.get_secret_value(), server=account.server)
    return sim
