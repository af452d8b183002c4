"""The clients' live streams against a real feed process and Redis: ``AsyncMT5Client.stream_ticks`` and
``MT5Client.stream_ticks`` give the trade server's ticks exactly (the simulator's ground truth), resume exactly from
an entry ID after the consumer stopped, report a trimmed span as a gap event, subscribe while they iterate (from
their ``since``, even before a feed serves the symbol) and leave nothing behind; bad arguments are refused before
anything is read."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from typing import Any

import pytest
import redis

from harness import ground_truth
from harness.env import simulated_now
from mt5_worker import AsyncMT5Client, InvalidRequestError, MT5Client
from mt5_worker.cli.devstack import wait_for
from mt5_worker.client import streaming
from mt5_worker.streams import subscriptions
from mt5_worker.streams.ids import EntryId
from mt5_worker.streams.keys import subscribers_key, ticks_key
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.market_hours  # reads the market: see docs/testing.md#time

SERVER = "MetaQuotes-Demo"
RATE = 200.0  # ticks come in bursts: a few quiet seconds still hold enough of them to compare
FEED = {"MT5_FEED_LOGIN": 10000001, "MT5_FEED_PASSWORD": "demo-10000001", "MT5_FEED_SERVER": SERVER,
        "MT5_SIMULATOR_TICK_RATE": RATE, "MT5_STREAM_RETENTION": 60}  # fmt: skip


def truth(symbol: str, start_ms: int, last_id: str) -> list[ground_truth.Tick]:
    """The ticks from ``start_ms`` through the entry ``last_id`` where a reader stopped (not the later ticks of its
    millisecond: a reader that stops at the first tick of a burst's millisecond is owed only that one)."""
    return ground_truth.ticks_through(ground_truth.terminal(SERVER, RATE), symbol, start_ms, last_id)


def seen(got: list[dict[str, Any]]) -> list[tuple[str, int, float, float]]:
    return [(t["id"], t["time_msc"], t["bid"], t["ask"]) for t in got]


def test_async_ticks_resume_exactly_from_the_last_id_after_the_consumer_stopped(simulator_stack: Stack) -> None:
    simulator_stack.feed("feed", MT5_FEED_SYMBOLS="EURUSD", **FEED)
    start_ms = int(simulated_now() * 1000)

    async def take(client: AsyncMT5Client, since: Any, until: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        async with contextlib.aclosing(client.stream_ticks(SERVER, ["EURUSD"], since=since)) as ticks:
            async for tick in ticks:
                assert tick["type"] == "tick" and tick["symbol"] == "EURUSD"
                got.append(tick)
                if tick["time_msc"] >= until:
                    break
        return got

    async def main() -> list[dict[str, Any]]:
        async with AsyncMT5Client(simulator_stack.settings()) as client:
            first = await take(client, start_ms, start_ms + 3_000)  # from a time: its millisecond included
            await asyncio.sleep(2)  # the consumer is gone: ticks keep coming into the stream
            second = await take(client, first[-1]["id"], start_ms + 8_000)  # exactly after the last one it had
            return first + second

    got = asyncio.run(main())
    expected = truth("EURUSD", start_ms, got[-1]["id"])
    assert len(expected) >= 60, "too few ticks for the comparison to mean something"
    assert expected == seen(got)
    assert len({t["id"] for t in got}) == len(got)


async def _take(client: AsyncMT5Client, symbol: str, since: Any, until: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with contextlib.aclosing(client.stream_ticks(SERVER, [symbol], since=since)) as ticks:
        async for tick in ticks:
            assert "tick" == tick["type"], tick  # a gap: retention trimmed ticks this reader was owed
            got.append(tick)
            if tick["time_msc"] >= until:
                break
    return got


def test_an_iterator_from_the_past_misses_nothing_beside_one_from_the_future(simulator_stack: Stack) -> None:
    """One client's iterators share one reader: the first follows EURUSD from a moment still to come, the second
    joins from seconds ago and must still get every tick between now and that moment (the shared reader does not
    start beyond the stream's end)."""
    simulator_stack.feed("feed", MT5_FEED_SYMBOLS="EURUSD", **FEED)
    r = redis.Redis.from_url(simulator_stack.redis_url)
    wait_for(lambda: r.xlen(ticks_key(SERVER, "EURUSD")), 30, "EURUSD ticks")
    first_ms = int(r.xrange(ticks_key(SERVER, "EURUSD"), count=1)[0][1][b"time_msc"])
    wait_for(lambda: simulated_now() * 1000 > first_ms + 2_500, 10, "seconds of EURUSD ticks")
    now_ms = int(simulated_now() * 1000)

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with AsyncMT5Client(simulator_stack.settings()) as client:
            future = asyncio.ensure_future(_take(client, "EURUSD", now_ms + 4_000, now_ms + 8_000))
            await asyncio.sleep(1)  # the shared reader follows EURUSD for it
            past = await _take(client, "EURUSD", now_ms - 2_000, now_ms + 8_000)
            return await future, past

    future, past = asyncio.run(main())
    for got, start_ms in ((future, now_ms + 4_000), (past, now_ms - 2_000)):
        expected = truth("EURUSD", start_ms, got[-1]["id"])
        assert len(expected) >= 30, "too few ticks for the comparison to mean something"
        assert expected == seen(got)


def test_hundreds_of_iterators_joining_at_once_share_a_few_redis_connections(simulator_stack: Stack) -> None:
    """A web service's browsers reconnecting together: 300 iterators of one client start at once; each waits for
    one of the client's few stream connections instead of failing, and each gets every tick. Retention is not what
    this is about: 10 minutes of it, as the last iterators may start long after the first on a busy machine."""
    simulator_stack.feed("feed", MT5_FEED_SYMBOLS="EURUSD", **FEED | {"MT5_STREAM_RETENTION": 600})
    r = redis.Redis.from_url(simulator_stack.redis_url)
    wait_for(lambda: r.xlen(ticks_key(SERVER, "EURUSD")), 30, "EURUSD ticks")
    start_ms = int(simulated_now() * 1000)
    connections: list[int] = []

    async def count_connections() -> None:
        while True:
            connections.append(len(r.client_list()))
            await asyncio.sleep(0.2)

    async def main() -> list[list[dict[str, Any]]]:
        async with AsyncMT5Client(simulator_stack.settings()) as client:
            counting = asyncio.ensure_future(count_connections())
            got = await asyncio.gather(*(_take(client, "EURUSD", start_ms, start_ms + 2_000) for _ in range(300)))
            counting.cancel()
            return got

    got = asyncio.run(main())
    expected = truth("EURUSD", start_ms, max((g[-1]["id"] for g in got), key=EntryId.parse))
    assert len(expected) >= 20, "too few ticks for the comparison to mean something"
    assert all(expected[: len(g)] == seen(g) for g in got)
    assert all(g[-1]["time_msc"] >= start_ms + 2_000 for g in got)
    assert max(connections) <= streaming.CONNECTIONS + 5  # the feed's, this test's own
    assert len({id(t) for g in got for t in g}) == sum(map(len, got))  # decoded once, a dict of its own each


def test_async_iterators_keep_their_subscriptions_alive_together_and_drop_them_when_closed(
    simulator_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No feed: the iterators wait. Their subscriptions (a member per iterator and symbol) outlive several TTLs
    because the client refreshes them together, and go when the iterators are closed."""
    monkeypatch.setattr(subscriptions, "TTL", 1.0)
    monkeypatch.setattr(subscriptions, "REFRESH", 0.2)
    r = redis.Redis.from_url(simulator_stack.redis_url)

    async def main() -> tuple[int, int]:
        async with AsyncMT5Client(simulator_stack.settings()) as client:

            async def follow(symbols: list[str]) -> None:
                async with contextlib.aclosing(client.stream_ticks(SERVER, symbols)) as ticks:
                    async for _ in ticks:
                        pass

            tasks = [asyncio.ensure_future(follow(["EURUSD", "GBPUSD"])), asyncio.ensure_future(follow(["EURUSD"]))]
            await asyncio.sleep(3)  # three TTLs
            live = r.zcount(subscribers_key(SERVER), time.time(), "+inf")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return live, r.zcard(subscribers_key(SERVER))

    assert (3, 0) == asyncio.run(main())


def test_a_blocking_reader_subscribes_while_it_iterates_and_leaves_nothing_behind(simulator_stack: Stack) -> None:
    """GBPUSD is not one of the feed's symbols: iterating subscribes to it, so the feed serves it."""
    simulator_stack.feed("feed", MT5_FEED_SYMBOLS="EURUSD", **FEED)
    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings())
    r = redis.Redis.from_url(simulator_stack.redis_url)
    start_ms = int(simulated_now() * 1000)
    iterator = client.stream_ticks(SERVER, "GBPUSD", since=start_ms)
    got = []
    for tick in iterator:
        got.append(tick)
        if tick["time_msc"] >= start_ms + 2_000:
            break
    assert 1 == r.zcard(subscribers_key(SERVER))
    iterator.close()  # its subscription goes at once
    assert 0 == r.zcard(subscribers_key(SERVER))
    expected = truth("GBPUSD", start_ms, got[-1]["id"])
    assert len(expected) >= 20 and expected == seen(got)
    client.close()


def test_a_reader_from_seconds_ago_of_a_symbol_not_served_yet_gets_every_tick_since(simulator_stack: Stack) -> None:
    """GBPUSD's stream begins when the feed first serves it, by then in a later second than the reader's ``since``:
    the subscription says where the reader starts, and the stream begins there."""
    simulator_stack.feed("feed", MT5_FEED_SYMBOLS="EURUSD", **FEED)
    r = redis.Redis.from_url(simulator_stack.redis_url)
    wait_for(lambda: r.xlen(ticks_key(SERVER, "EURUSD")), 30, "EURUSD ticks")
    start_ms = int(simulated_now() * 1000) - 3_000

    async def main() -> list[dict[str, Any]]:
        async with AsyncMT5Client(simulator_stack.settings()) as client:
            return await _take(client, "GBPUSD", start_ms, start_ms + 4_000)

    got = asyncio.run(main())
    expected = truth("GBPUSD", start_ms, got[-1]["id"])
    assert len(expected) >= 30, "too few ticks for the comparison to mean something"
    assert expected == seen(got)


def test_a_since_older_than_the_retention_gets_a_gap_event_first(simulator_stack: Stack) -> None:
    simulator_stack.feed("feed", MT5_FEED_SYMBOLS="EURUSD", **FEED)
    r = redis.Redis.from_url(simulator_stack.redis_url)
    wait_for(lambda: r.xlen(ticks_key(SERVER, "EURUSD")), 30, "EURUSD ticks")
    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings())
    long_ago = int(simulated_now() * 1000) - 10 * 60_000  # ten minutes: retention is a minute
    iterator = client.stream_ticks(SERVER, ["EURUSD"], since=long_ago)
    # Retention trims the feed's backfilled history as it publishes: the first entry can move between the gap and
    # the read, and is then owed as a further gap, from where the last one ended.
    gaps, first = [], None
    for item in itertools.islice(iterator, 20):
        if item["type"] != "gap":
            first = item
            break
        gaps.append(item)
    iterator.close()
    assert gaps and ("gap", "EURUSD", long_ago) == (gaps[0]["type"], gaps[0]["symbol"], gaps[0]["from_msc"])
    assert all(later["from_msc"] == earlier["to_msc"] for earlier, later in itertools.pairwise(gaps)), gaps
    assert first is not None and first["type"] == "tick" and gaps[-1]["to_msc"] <= first["time_msc"], (gaps, first)
    client.close()


@pytest.mark.parametrize(
    ("server", "symbols", "since", "message"),
    [
        ("", ["EURUSD"], None, "invalid server"),
        (SERVER, [], None, "invalid symbols"),
        (SERVER, ["EUR USD"], None, "invalid symbols"),
        (SERVER, ["EURUSD"], "last tuesday", "invalid since"),
        (SERVER, ["EURUSD"], {"GBPUSD": 0}, "symbols not streamed"),
    ],
)
def test_bad_stream_arguments_are_refused_before_anything_is_read(
    simulator_stack: Stack, server: str, symbols: list[str], since: Any, message: str
) -> None:
    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings())
    started = time.monotonic()
    with pytest.raises(InvalidRequestError, match=message):
        next(client.stream_ticks(server, symbols, since=since))
    assert time.monotonic() - started < 5
    assert 0 == redis.Redis.from_url(simulator_stack.redis_url).zcard(subscribers_key(SERVER))
    client.close()
