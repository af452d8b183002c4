"""The streams' pure parts: entry IDs from tick times, the cursor that drops what a poll repeats, the M1 bars built
from ticks, the gap a reader is owed, a feed's polls of a simulated terminal against its exact ground truth (and that
ground truth cut where a reader stopped), and where a feed starts the stream of a symbol a reader subscribes to."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import ground_truth
from mt5_worker.client.streaming import tick_sources, wanted_from
from mt5_worker.errors import InvalidRequestError
from mt5_worker.feed import symbol_feed
from mt5_worker.feed.symbol_feed import SymbolFeed, start_second
from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.streams import codec, subscriptions
from mt5_worker.streams.bars import BarBuilder
from mt5_worker.streams.cursor import TickCursor, TickOrderError
from mt5_worker.streams.ids import EntryId, since_ms, start_after
from mt5_worker.streams.positions import NOTHING, Source, gap, past
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.arrays import TICKS_DTYPE
from tests.conftest import ManualClock, creds

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

WEDNESDAY_NOON = 1_796_212_800  # 2026-12-02 12:00 UTC


def ticks(times: list[int], bid: float = 1.1) -> Any:
    out = np.zeros(len(times), dtype=TICKS_DTYPE)
    out["time_msc"], out["time"], out["bid"], out["ask"] = times, [t // 1000 for t in times], bid, bid + 0.0002
    return out


def test_entry_ids_order_by_millisecond_then_place_and_parse_back() -> None:
    assert EntryId(5, 0) < EntryId(5, 1) < EntryId(6, 0)
    assert EntryId(1796212800123, 2) == EntryId.parse("1796212800123-2") == EntryId.parse(b"1796212800123-2")
    assert "1796212800123-2" == str(EntryId(1796212800123, 2))
    assert EntryId(9, 2**64 - 1) == EntryId(10, 0).before() and EntryId(10, 0) == EntryId(10, 1).before()
    with pytest.raises(InvalidRequestError, match="stream entry id"):
        EntryId.parse("12-x")


@pytest.mark.parametrize(
    ("since", "after"),
    [
        (1796212800123, EntryId(1796212800122, 2**64 - 1)),  # a time: its own millisecond included
        ("2026-12-02T12:00:00.123Z", EntryId(1796212800122, 2**64 - 1)),
        ("2026-12-02T12:00:00.123", EntryId(1796212800122, 2**64 - 1)),  # naive: UTC
        ("1796212800123-2", EntryId(1796212800123, 2)),  # an entry ID: after it exactly
    ],
)
def test_since_is_a_time_or_an_entry_id(since: Any, after: EntryId) -> None:
    assert after == start_after(since)


@pytest.mark.parametrize("since", ["yesterday", -1, True, 2**60, "x" * 100])
def test_a_bad_since_is_refused_naming_what_it_takes(since: Any) -> None:
    with pytest.raises(InvalidRequestError, match="since"):
        since_ms(since) if not isinstance(since, str) else start_after(since)


def test_the_cursor_drops_what_an_overlapping_poll_repeats_and_numbers_each_millisecond() -> None:
    cursor = TickCursor()
    first = [str(e) for e, _ in cursor.new(ticks([1000, 1000, 1500]))]
    assert ["1000-0", "1000-1", "1500-0"] == first
    # The next poll starts at the same second: the same ticks, one more at 1500 ms (it reached the terminal after
    # the first poll read that millisecond), and a new one.
    again = [str(e) for e, _ in cursor.new(ticks([1000, 1000, 1500, 1500, 2100]))]
    assert ["1500-1", "2100-0"] == again
    assert EntryId(2100, 0) == cursor.last
    assert [] == list(cursor.new(ticks([2000, 2100])))


def test_ticks_out_of_time_order_publish_nothing() -> None:
    cursor = TickCursor()
    with pytest.raises(TickOrderError):
        list(cursor.new(ticks([1000, 900])))
    assert cursor.last is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 5_000), min_size=1, max_size=60).map(sorted),
    st.lists(st.integers(1, 4), min_size=1, max_size=12),
)
def test_any_sequence_of_overlapping_polls_publishes_every_tick_once(times: list[int], steps: list[int]) -> None:
    """Polls that see the ticks up to a moving "now", each from the last published tick's second: the union of
    what they publish is every tick, once, in order, numbered within its millisecond."""
    cursor, published, now = TickCursor(), [], 0
    for step in [*steps, 10_000]:
        now = min(now + step * 400, 10_000)
        start = cursor.poll_from(0) * 1000
        seen = [t for t in times if start <= t <= now]
        published += [e for e, _ in cursor.new(ticks(seen))]
    expected, previous, seq = [], None, 0
    for t in times:
        seq = seq + 1 if t == previous else 0
        previous = t
        expected.append(EntryId(t, seq))
    assert expected == published


def test_bars_are_the_ticks_bid_ohlc_and_close_on_a_later_minute() -> None:
    builder = BarBuilder(point=0.0001)
    quotes = [(0, 1.1000, 1.1002), (10_000, 1.1010, 1.1011), (20_000, 1.0990, 1.0993), (60_500, 1.1005, 1.1006)]
    closed = []
    for ms, bid, ask in quotes:
        tick = {"time_msc": ms, "bid": bid, "ask": ask, "volume": 0}
        closed += builder.add(EntryId(ms, 0), tick)
    ((closed_id, bar),) = closed
    assert EntryId(60_500, 0) == closed_id  # the tick that closed it, its even sequence
    assert (0, 1.1, 1.101, 1.099, 1.099, 3, 1, True) == (
        bar.time, bar.open, bar.high, bar.low, bar.close, bar.tick_volume, bar.spread, bar.closed
    )  # fmt: skip
    forming = builder.forming(EntryId(60_500, 0))
    assert (
        forming is not None and EntryId(60_500, 1) == forming[0] and (60, False) == (forming[1].time, forming[1].closed)
    )


def test_a_reader_is_owed_a_gap_only_where_entries_may_have_been_trimmed() -> None:
    source = Source("mt5:ticks:S:EURUSD", "EURUSD")
    assert gap(source, EntryId(5_000, 0), horizon_ms=4_000, first=EntryId(5_100, 0)) is None  # after the horizon
    owed = gap(source, EntryId(999, 2**64 - 1), horizon_ms=4_000, first=EntryId(4_200, 0))
    assert (
        {"type": "gap", "symbol": "EURUSD", "from_msc": 1_000, "to_msc": 4_000}
        == {k: owed[k] for k in ("type", "symbol", "from_msc", "to_msc")}
        if owed
        else False
    )
    assert gap(source, NOTHING, horizon_ms=0, first=None) is None  # never trimmed
    assert EntryId(3_999, 2**64 - 1) == past(owed or {}, EntryId(999, 0))


def _logged_in(sim: SimulatedTerminal) -> tuple[SimulatedTerminal, Callable[..., Any]]:
    """``sim`` initialized on its first account, and a caller of its functions that fails on a ``None``."""
    login, password, server = creds(sim.accounts[0])
    assert sim.initialize(login=login, password=password, server=server)

    def call(function: str, *args: Any) -> Any:
        found = getattr(sim, function)(*args)
        assert found is not None, sim.last_error()
        return found

    return sim, call


def test_a_feeds_polls_of_a_simulated_terminal_are_its_ticks_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ground truth is free: the simulator's copy_ticks_range over the same window. Pages of 3 ticks make full
    pages and seconds holding more ticks than a page, where a count-limited cursor would stall."""
    clock = ManualClock(WEDNESDAY_NOON)
    sim, call = _logged_in(SimulatedTerminal(clock=clock))

    for page in (10_000, 3):
        monkeypatch.setattr(symbol_feed, "PAGE", page)
        feed, published = SymbolFeed("BTCUSD", 0.01, None, WEDNESDAY_NOON - 600), []
        clock.now = WEDNESDAY_NOON
        for _ in range(40):
            published += [(str(e), int(t["time_msc"]), float(t["bid"])) for e, t in feed.poll(call).ticks]
            clock.advance(17.3)
        truth = sim.copy_ticks_range("BTCUSD", WEDNESDAY_NOON - 600, int(clock.now) + 1, c.COPY_TICKS_ALL)
        truth = truth[truth["time_msc"] <= int((clock.now - 17.3) * 1000)]
        assert len(truth) >= 20, "too few ticks for the comparison to mean something"
        assert [(int(t["time_msc"]), float(t["bid"])) for t in truth] == [p[1:] for p in published]
        assert len({p[0] for p in published}) == len(published)


def test_a_reader_that_stops_inside_a_millisecond_is_owed_none_of_its_later_ticks() -> None:
    """The window of a test that failed: GBPUSD at 100 ticks/s holds five ticks at ...51946, and a reader from
    ...49946 that stopped at the first of them (its first tick 2 s on) is owed 1,152 ticks, not the 1,156 up to
    the end of that millisecond. The ground truth numbers each millisecond's ticks as the feed's cursor does."""
    since_ms, stopped_at = 1796213049946, "1796213051946-0"
    sim = SimulatedTerminal(clock=ManualClock(WEDNESDAY_NOON + 300), tick_rate=100.0)
    assert sim.initialize(*(), login=creds(sim.accounts[0])[0], password=creds(sim.accounts[0])[1],
                          server=creds(sim.accounts[0])[2])  # fmt: skip
    owed = ground_truth.ticks_through(sim, "GBPUSD", since_ms, stopped_at)
    up_to_its_millisecond = ground_truth.ticks(sim, "GBPUSD", since_ms, 1796213051946)
    assert (1152, stopped_at) == (len(owed), owed[-1].id)
    assert [f"1796213051946-{n}" for n in range(5)] == [t.id for t in up_to_its_millisecond[1151:]]
    assert owed == up_to_its_millisecond[:1152]
    window = sim.copy_ticks_range("GBPUSD", since_ms // 1000, 1796213052, c.COPY_TICKS_ALL)
    as_published = [str(e) for e, t in TickCursor().new(window) if int(t["time_msc"]) >= since_ms]
    assert [t.id for t in up_to_its_millisecond] == as_published[: len(up_to_its_millisecond)]


def test_a_subscription_says_the_first_millisecond_its_reader_reads() -> None:
    sources = tick_sources("S", ["EURUSD", "GBPUSD", "USDJPY"], {"GBPUSD": 1796212800123, "USDJPY": "1796212800500-2"})
    assert {"GBPUSD": 1796212800123, "USDJPY": 1796212800500} == wanted_from(sources)  # EURUSD: live, from now
    listed = subscriptions.members(["EURUSD", "GBPUSD"], "a", {"GBPUSD": 1796212800123})
    listed += [*subscriptions.members(["GBPUSD"], "b", {"GBPUSD": 1796212799000}), "GBPUSD\nc\n²", "GBPUSD\nd\nx"]
    assert ["EURUSD\na", "GBPUSD\na\n1796212800123"] == listed[:2]
    assert {"EURUSD", "GBPUSD"} == {subscriptions.symbol_of(m) for m in listed}
    assert {"GBPUSD": 1796212799000} == subscriptions.wanted_from(listed)  # the earliest; bad ones are ignored


@pytest.mark.parametrize(
    ("wanted_ms", "start_s"),
    [
        (None, 1_000),  # a live reader: from the last quote's second
        (1_000_700, 1_000),  # a reader from after the last quote: the same
        (997_400, 997),  # a reader from seconds ago: its second, every tick of which the stream will hold
        (900_000, 940),  # from longer ago than the retention keeps: what would be trimmed at once is not read
    ],
)
def test_an_empty_stream_starts_early_enough_for_its_subscribers(wanted_ms: int | None, start_s: int) -> None:
    assert start_s == start_second(1_000, wanted_ms, retention_ms=60_000)


def test_a_symbol_first_served_for_a_reader_from_seconds_ago_gets_every_tick_from_then() -> None:
    """A reader subscribes to a symbol no feed serves yet, from a time in an earlier second than the symbol's last
    quote by the time the feed starts it (a second boundary passes in between): the stream begins at the reader's
    second, so it holds every tick the reader is owed."""
    now = WEDNESDAY_NOON + 30.4
    sim, call = _logged_in(SimulatedTerminal(clock=ManualClock(now), tick_rate=200.0))

    since = int(now * 1000) - 2_500
    sources = tick_sources("S", "GBPUSD", since)
    info = call("symbol_info", "GBPUSD")
    assert int(info.time) > since // 1000
    feed = SymbolFeed("GBPUSD", info.point, None, start_second(int(info.time), wanted_from(sources)["GBPUSD"], 60_000))
    after = next(iter(sources.values()))
    assert after is not None
    read = [(str(e), int(t["time_msc"]), float(t["bid"])) for e, t in feed.poll(call).ticks if e > after]
    owed = ground_truth.ticks(sim, "GBPUSD", since, int(now * 1000))
    assert len(owed) >= 100 and [(t.id, t.time_msc, t.bid) for t in owed] == read


def test_a_ticks_fields_are_the_same_from_a_numpy_record_and_from_a_mapping() -> None:
    """The feed reads a record's values at once (fast); a mapping (a replayed tick) field by field: same fields."""
    ticks = np.zeros(2, dtype=TICKS_DTYPE)
    ticks[0] = (1796212800, 1.08501, 1.08513, 0.0, 0, 1796212800123, 6, 0.0)
    ticks[1] = (1796212800, 0.1 + 0.2, 65000.01, 64999.99, 3, 1796212800999, 134, 2.5)
    for record in ticks:
        as_mapping = {name: record[name] for name in TICKS_DTYPE.names}
        assert codec.tick_fields(record) == codec.tick_fields(as_mapping)
    assert {"time_msc": "1796212800999", "bid": repr(0.1 + 0.2), "volume": "3", "flags": "134",
            "volume_real": "2.5"}.items() <= codec.tick_fields(ticks[1]).items()  # fmt: skip


def test_a_feeds_closed_bars_are_the_terminals_m1_bars() -> None:
    """Bars built from the published ticks are the terminal's own M1 bars (Bid OHLC, tick volume, smallest
    spread), minute for minute; the forming one is written at most once a second of market time."""
    clock = ManualClock(WEDNESDAY_NOON + 30)
    sim = SimulatedTerminal(clock=clock, tick_rate=20.0)
    account = sim.accounts[0]
    assert sim.initialize(login=account.login, password=account.password.get_secret_value(), server=account.server)

    def call(function: str, *args: Any) -> Any:
        return getattr(sim, function)(*args)

    feed, bars = SymbolFeed("EURUSD", 0.00001, None, WEDNESDAY_NOON + 30), []
    for _ in range(400):  # 200 s of market time, a poll every half second
        bars += feed.poll(call).bars
        clock.advance(0.5)
    closed = [bar for _, bar in bars if bar.closed]
    forming = [entry for entry, bar in bars if not bar.closed]
    assert len(closed) >= 3
    rates = sim.copy_rates_range("EURUSD", c.TIMEFRAME_M1, closed[1].time, closed[-1].time)
    assert rates is not None
    assert [
        (
            int(r["time"]),
            float(r["open"]),
            float(r["high"]),
            float(r["low"]),
            float(r["close"]),
            int(r["tick_volume"]),
            int(r["spread"]),
        )
        for r in rates
    ] == [
        (b.time, b.open, b.high, b.low, b.close, b.tick_volume, b.spread) for b in closed[1:]
    ]  # the first bar began before the feed did: only its later ticks are in it
    same_minute = [(a, b) for a, b in pairwise(forming) if b.ms // 60_000 == a.ms // 60_000]
    assert same_minute and all(b.ms - a.ms >= 1000 for a, b in same_minute)
