"""``mt5-worker feed`` as real processes on a real Redis: failover without a missed or repeated tick, serving a
symbol someone subscribes to, refusing to start without its account."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from harness.env import child_env, simulated_now
from mt5_worker.cli.devstack import wait_for
from mt5_worker.streams import subscriptions
from mt5_worker.streams.keys import leader_key, status_key, ticks_key
from reliability import feed_kill
from tests.celery_fixtures import Stack

pytestmark = [
    pytest.mark.integration,  # some tests start feeds and servers of their own
    pytest.mark.market_hours,  # reads the market: see docs/testing.md#time
]

ACCOUNT = feed_kill.ACCOUNT


@pytest.mark.parametrize("backend", ["simulator", "bridge"])
def test_a_subscriber_gets_every_tick_once_while_feeds_die_and_redis_restarts(tmp_path: Path, backend: str) -> None:
    """The quick run of reliability/feed_kill.py: two feeds, the leader SIGKILLed twice, Redis restarted once;
    the subscriber's ticks equal the simulator's copy_ticks_range over the window (thousands of them)."""
    outcome = feed_kill.run(quick=True, logs=tmp_path, backend=backend)
    figures = outcome["figures"]
    assert [] == outcome["problems"], figures
    assert figures["ticks the trade server made in the window"] >= feed_kill.ENOUGH_TICKS
    assert (0, 0, True) == (figures["missing"], figures["duplicated"], figures["exactly the ground truth"])


def test_a_symbol_is_served_while_someone_subscribes_to_it(simulator_stack: Stack) -> None:
    feed = simulator_stack.feed("feed", MT5_FEED_SYMBOLS="EURUSD", MT5_SIMULATOR_TICK_RATE=20.0, **ACCOUNT)
    r = redis.Redis.from_url(simulator_stack.redis_url, decode_responses=True)
    wait_for(lambda: r.hget(status_key("MetaQuotes-Demo"), "symbols"), 30, "the feed's status")
    assert 0 == r.xlen(ticks_key("MetaQuotes-Demo", "GBPUSD"))
    subscribed = time.monotonic()
    subscriptions.subscribe(r, "MetaQuotes-Demo", ["GBPUSD"], "test-subscriber")
    wait_for(lambda: r.xlen(ticks_key("MetaQuotes-Demo", "GBPUSD")), 10, "GBPUSD ticks")
    assert time.monotonic() - subscribed < 5  # served from the next poll (a second in docs/streams.md; bench S1)
    status = r.hgetall(status_key("MetaQuotes-Demo"))
    wait_for(lambda: "GBPUSD" in r.hget(status_key("MetaQuotes-Demo"), "symbols"), 10, "GBPUSD in the status")
    assert feed.leading() and {"leader", "updated", "symbols"} <= set(status)
    last = r.xrevrange(ticks_key("MetaQuotes-Demo", "GBPUSD"), "+", "-", count=1)[0]
    assert abs(int(last[1]["time_msc"]) / 1000 - simulated_now()) < 60  # the pinned market's now, not the machine's
    subscriptions.unsubscribe(r, "MetaQuotes-Demo", ["GBPUSD"], "test-subscriber")
    wait_for(lambda: "GBPUSD" not in r.hget(status_key("MetaQuotes-Demo"), "symbols"), 10, "GBPUSD dropped")
    assert "demo-10000001" not in feed.log_text()  # its password, never logged


def test_a_feed_without_its_account_refuses_to_start_naming_the_variables(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mt5_worker.cli", "feed"], env=child_env({}), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert 2 == done.returncode
    assert "MT5_FEED_LOGIN, MT5_FEED_PASSWORD, MT5_FEED_SERVER" in done.stderr


def test_health_reports_a_feed_stale_while_its_market_is_open(simulator_stack: Stack, tmp_path: Path) -> None:
    feed = simulator_stack.feed("feed", MT5_FEED_SYMBOLS="EURUSD,BTCUSD", **ACCOUNT)
    r = redis.Redis.from_url(simulator_stack.redis_url, decode_responses=True)
    wait_for(lambda: r.hget(status_key("MetaQuotes-Demo"), "open:EURUSD"), 30, "the feed's status")

    def health() -> tuple[int, dict[str, object]]:
        done = subprocess.run(
            [sys.executable, "-m", "mt5_worker.cli", "health", "--feed", "MetaQuotes-Demo", "--max-lag", "600"],
            env=child_env({"REDIS_URL": simulator_stack.redis_url}), cwd=tmp_path, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        return done.returncode, json.loads(done.stdout)

    code, report = health()
    assert (0, True) == (code, report["healthy"]), report
    assert {"EURUSD", "BTCUSD"} == set(report["symbols"])  # type: ignore[arg-type]
    feed.stop()  # a clean stop gives the lease up: no feed leads
    code, report = health()
    assert 1 == code and "no feed leads" in str(report["reason"])
    # A leader whose symbol lags while its market is open (what a hung terminal looks like), and one whose market
    # is closed: only the first is stale.
    r.set(leader_key("MetaQuotes-Demo"), "someone", px=60_000)
    r.hset(status_key("MetaQuotes-Demo"), mapping={"updated": repr(time.time()), "symbols": "EURUSD,BTCUSD",
                                                    "lag:EURUSD": 900, "open:EURUSD": 1, "lag:BTCUSD": 5,
                                                    "open:BTCUSD": 1})  # fmt: skip
    code, report = health()
    assert 1 == code and "stale while the market is open: EURUSD" in str(report["reason"])
    r.hset(status_key("MetaQuotes-Demo"), mapping={"open:EURUSD": 0, "updated": repr(time.time())})
    assert 0 == health()[0]
