"""The clients' live streams against a real feed process and Redis: ``AsyncMT5Client.stream_ticks`` and
``MT5Client.stream_ticks`` give the trade server's ticks exactly (the simulator's ground truth), resume exactly from
an entry ID after the consumer stopped, report a trimmed span as a gap event, subscribe while they iterate and
leave nothing behind; bad arguments are refused before anything is read."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
import redis

from harness.env import clock_offset, simulated_now
from mt5_worker import AsyncMT5Client, InvalidRequestError, MT5Client
from mt5_worker.cli.devstack import wait_for
from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.streams.keys import subscribers_key, ticks_key
from mt5_worker.terminal import constants as c
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.market_hours  # reads the market: see docs/testing.md#time

SERVER = "MetaQuotes-Demo"
RATE = 100.0  # ticks come in bursts: a few quiet seconds still hold enough of them to compare
FEED = {"MT5_FEED_LOGIN": 10000001, "MT5_FEED_PASSWORD": "demo-10000001", "MT5_FEED_SERVER": SERVER,
        "MT5_SIMULATOR_TICK_RATE": RATE, "MT5_STREAM_RETENTION": 60}  # fmt: skip


def truth(symbol: str, start_ms: int, end_ms: int) -> list[tuple[int, float, float]]:
    sim = SimulatedTerminal(clock_offset=clock_offset(), tick_rate=RATE)
    assert sim.initialize(login=10000001, password="demo-10000001", server=SERVER)
    ticks = sim.copy_ticks_range(symbol, start_ms // 1000, end_ms // 1000 + 1, c.COPY_TICKS_ALL)
    return [(int(t["time_msc"]), float(t["bid"]), float(t["ask"])) for t in ticks
            if start_ms <= t["time_msc"] <= end_ms]  # fmt: skip


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
    end_ms = got[-1]["time_msc"]
    expected = truth("EURUSD", start_ms, end_ms)
    assert len(expected) >= 60, "too few ticks for the comparison to mean something"
    assert expected == [(t["time_msc"], t["bid"], t["ask"]) for t in got]
    assert len({t["id"] for t in got}) == len(got)


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
    expected = truth("GBPUSD", start_ms, got[-1]["time_msc"])
    assert len(expected) >= 20 and expected == [(t["time_msc"], t["bid"], t["ask"]) for t in got]
    client.close()


def test_a_since_older_than_the_retention_gets_a_gap_event_first(simulator_stack: Stack) -> None:
    simulator_stack.feed("feed", MT5_FEED_SYMBOLS="EURUSD", **FEED)
    r = redis.Redis.from_url(simulator_stack.redis_url)
    wait_for(lambda: r.xlen(ticks_key(SERVER, "EURUSD")), 30, "EURUSD ticks")
    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings())
    long_ago = int(simulated_now() * 1000) - 10 * 60_000  # ten minutes: retention is a minute
    iterator = client.stream_ticks(SERVER, ["EURUSD"], since=long_ago)
    owed, first = next(iterator), next(iterator)
    iterator.close()
    assert ("gap", "EURUSD", long_ago) == (owed["type"], owed["symbol"], owed["from_msc"])
    assert owed["to_msc"] <= first["time_msc"] and first["type"] == "tick"
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
