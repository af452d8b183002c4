"""S1: live ticks to browsers: latency under 1,000 WebSocket clients, the feed's capacity, Redis memory.

1. **Latency and exactness under load** (:mod:`harness.tick_load`): two ``mt5-worker feed`` processes (the
   simulator's two demo servers, 9 symbols each: 18 symbols, where the issue says 20) at ``--rate`` ticks/s per
   symbol, the example service under uvicorn, ``--clients`` WebSocket clients and some SSE clients each watching one
   or two symbols, stalled clients cut off, one SSE client resuming with Last-Event-ID. A tick's latency is its
   arrival at a WebSocket client (this machine's clock plus the simulated servers' offset: they run on the
   harness's pinned clock) minus its ``time_msc``: the feed's poll, Redis, the service's fan-out, the socket and
   the client's event loop. Every client's ticks are checked against the simulator's ground truth. Targets: p50 <=
   30 ms, p99 <= 100 ms.
2. **The feed's capacity**: one feed serving 9 symbols at rising ``MT5_SIMULATOR_TICK_RATE`` (a fresh Redis per
   step) until its lag (the trade server's now minus the newest tick published, worst symbol) grows. A feed that
   falls behind publishes as fast as it can: capacity = the most ticks/s a step published (a lower bound if the
   feed kept up with every step). CPU per 1,000 ticks from ``/proc/<pid>/stat`` of the feed process at that step
   (the simulator generating the ticks included: the stand-in's cost, which a real terminal pays in its own
   process). Target >= 5,000 ticks/s per feed.
3. **Redis memory per symbol-hour**: ``MEMORY USAGE`` of each symbol's ticks and M1 bars streams after run 1,
   divided by the time they span (the backfilled history and the run), scaled to an hour.

    .venv/bin/python -m bench.s1_streams [--quick] [--clients 1000] [--window 30] [--rate 5] [--docs PATH]
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import redis

from bench import report
from harness import ground_truth, tick_load
from harness.env import simulated_now
from harness.fleet import Fleet
from harness.runs import log_dir
from harness.web import cpu_seconds
from mt5_worker.streams import publisher
from mt5_worker.streams.keys import bars_key, ticks_key

P50_TARGET_MS, P99_TARGET_MS = 30.0, 100.0
CAPACITY_TARGET = 5000.0  # ticks/s per feed
LAG_LIMIT = 1.0  # seconds: a step whose lag ends above it, and grew, is one the feed did not keep up with
CAPACITY_SERVER = "MetaQuotes-Demo"
FULL_RATES = (50.0, 100.0, 200.0, 400.0, 700.0, 1000.0)  # per symbol, 9 symbols (minutes vary tenfold: bursts)


@dataclass
class Step:
    rate: float  # MT5_SIMULATOR_TICK_RATE (per symbol)
    offered: float  # ticks/s the trade server made over the span (ground truth)
    published: float  # ticks/s the feed appended
    lag: float  # the worst symbol's lag at the end of the span, seconds
    cpu_ms_per_1000: float
    sustained: bool  # its lag at the end under LAG_LIMIT, or less than at the start (catching up)


@dataclass
class Memory:
    ticks_per_hour: float  # bytes per symbol-hour, ticks stream
    bars_per_hour: float  # bytes per symbol-hour, M1 bars stream
    ticks_per_symbol_hour: float
    bytes_per_tick: float


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--clients", type=int, help="WebSocket clients (default 1000; quick 24)")
    parser.add_argument("--window", type=float, help="seconds every client watches (default 30; quick 3)")
    parser.add_argument("--rate", type=float, default=5.0, help="ticks/s per symbol during run 1 (default 5)")
    parser.add_argument("--rates", help="capacity steps, ticks/s per symbol, comma-separated")
    parser.add_argument("--no-deflate", action="store_true", help="uvicorn --ws-per-message-deflate false")
    parser.add_argument("--burst-at", type=float, help="seconds into the window the stalled clients connect "
                        "(default two thirds of it; quick 0): latency is judged before")  # fmt: skip
    args = parser.parse_args(argv)
    quick = args.quick
    load = tick_load.Load(
        ws=args.clients or (24 if quick else 1000), sse=2 if quick else 20, stalled_ws=1 if quick else 2,
        stalled_sse=1, window=args.window or (3.0 if quick else 30.0), rate=args.rate,
        connect_budget=3.0 if quick else 15.0, deflate=not args.no_deflate,
    )  # fmt: skip
    load = replace(load, burst_at=args.burst_at if args.burst_at is not None else 0.0 if quick else load.window * 2 / 3)
    rates = tuple(float(r) for r in args.rates.split(",")) if args.rates else (200.0,) if quick else FULL_RATES
    with log_dir("mt5-bench-s1-", args.keep_logs) as logs:
        (logs / "load").mkdir()
        fleet = Fleet(logs / "load", forked=quick)
        try:
            loads = [os.getloadavg()[0]]
            outcome = tick_load.run(fleet, load)
            loads.append(os.getloadavg()[0])
            memory = redis_memory(fleet.redis_url, outcome.since_ms)
        finally:
            fleet.close()
        steps = capacity(logs, rates, span=2.0 if quick else 8.0)

    delays = sorted(d * 1000 for d in outcome.delays(before_bursts=load.burst_at > 0))
    p50, p99 = quantile(delays, 0.5), quantile(delays, 0.99)
    # A feed that falls behind publishes as fast as it can: its capacity. One that keeps up publishes what the server
    # makes: a lower bound of it.
    busiest = max(steps, key=lambda s: s.published)
    best, cpu = busiest.published, busiest.cpu_ms_per_1000
    print(f"S1: {load.ws} WebSocket + {load.sse + load.resuming_sse} SSE clients over 18 symbols at {load.rate:g} "
          f"ticks/s each, {load.window:g} s window")  # fmt: skip
    for label, value in outcome.figures.items():
        print(f"  {label}: {value}")
    print(f"  problems: {'; '.join(outcome.problems) or 'none'}")
    print(f"load average (1 min) before and after the run: {loads[0]:.1f}, {loads[1]:.1f}")
    print(f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(delays):,} ticks "
          f"({'before the stalled clients connected' if load.burst_at else 'the whole window'})")  # fmt: skip
    for s in steps:
        print(f"capacity step {s.rate:g}/s per symbol: offered {s.offered:,.0f} ticks/s, published {s.published:,.0f},"
              f" lag {s.lag:.2f} s, CPU {s.cpu_ms_per_1000:.0f} ms per 1,000 ticks, "
              f"{'keeping up' if s.sustained else 'falling behind'}")  # fmt: skip
    print(f"Redis: {memory.ticks_per_hour / 2**20:.1f} MB ticks + {memory.bars_per_hour / 2**20:.1f} MB bars per "
          f"symbol-hour at {memory.ticks_per_symbol_hour:,.0f} ticks per symbol-hour "
          f"({memory.bytes_per_tick:.0f} bytes per tick)")  # fmt: skip
    p99_met = p99 <= P99_TARGET_MS
    print(report.ratio_line("S1", "WebSocket tick latency p99 ms", p99, f"<= {P99_TARGET_MS:g}", p99_met))

    docs = report.docs_arg(quick, args.docs)
    if docs is not None:
        from bench.s1_report import Figures, write_docs  # the section's text and chart

        write_docs(docs, Figures(load, outcome, delays, p50, p99, steps, best, cpu, memory, quick, max(loads)))
    return 0 if not outcome.problems else 1


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.median(values) if q == 0.5 else values[min(len(values) - 1, int(len(values) * q))]


def redis_memory(redis_url: str, live_from_ms: int) -> Memory:
    """Bytes per symbol-hour of the ticks and bars streams. Ticks: what each stream holds over the time it spans (the
    backfilled history is ticks like any). Bars: bytes per entry times the entries per hour since ``live_from_ms``
    (a backfill writes a minute's bars at once, a live feed a forming bar per poll that found ticks)."""
    r: Any = redis.Redis.from_url(redis_url)
    ticks_bytes = bars_bytes = hours = bar_entries_per_hour = 0.0
    count = 0
    for server in tick_load.FEEDS:
        for symbol in tick_load.SYMBOL_NAMES:
            key, bars = ticks_key(server, symbol), bars_key(server, symbol)
            first, last = r.xrange(key, count=1), publisher.last_id(r, key)
            assert first and last is not None
            hours += (last.ms - int(first[0][1][b"time_msc"])) / 3_600_000
            ticks_bytes += float(r.memory_usage(key, samples=0) or 0)
            count += int(r.xlen(key))
            live = len(r.xrange(bars, f"{live_from_ms}-0", f"{last.ms}-0"))
            bar_entries_per_hour += live / ((last.ms - live_from_ms) / 3_600_000)
            bars_bytes += float(r.memory_usage(bars, samples=0) or 0) / max(int(r.xlen(bars)), 1)  # per entry
    r.close()
    symbols = len(tick_load.FEEDS) * len(tick_load.SYMBOL_NAMES)
    per_bar = bars_bytes / symbols
    return Memory(ticks_bytes / hours, per_bar * bar_entries_per_hour / symbols, count / hours, ticks_bytes / count)


def capacity(logs: Path, rates: tuple[float, ...], span: float) -> list[Step]:
    """Rising tick rates until the feed falls behind (and one step past it)."""
    steps: list[Step] = []
    for rate in rates:
        step = capacity_step(logs / f"capacity-{rate:g}", rate, span)
        steps.append(step)
        print(
            f"  step {rate:g}/s per symbol: published {step.published:,.0f} ticks/s, lag {step.lag:.2f} s", flush=True
        )
        if sum(not s.sustained for s in steps) >= 2:
            break
    return steps


def capacity_step(logs: Path, rate: float, span: float) -> Step:
    login, password = tick_load.FEEDS[CAPACITY_SERVER]
    symbols = tick_load.SYMBOL_NAMES
    keys = [ticks_key(CAPACITY_SERVER, s) for s in symbols]
    logs.mkdir()
    fleet = Fleet(logs)
    try:
        feed = fleet.feed("feed", MT5_FEED_LOGIN=login, MT5_FEED_PASSWORD=password, MT5_FEED_SERVER=CAPACITY_SERVER,
                          MT5_FEED_SYMBOLS=",".join(symbols), MT5_SIMULATOR_TICK_RATE=rate)  # fmt: skip
        r = fleet.r

        def lag() -> float:
            now_ms = simulated_now() * 1000
            lasts = [publisher.last_id(r, key) for key in keys]
            return max((now_ms - last.ms) / 1000 if last else float("inf") for last in lasts)

        deadline = time.monotonic() + 30
        while lag() > LAG_LIMIT and time.monotonic() < deadline:
            time.sleep(0.2)
        cpu0, lens0, start = cpu_seconds(feed.pid), sum(int(r.xlen(k)) for k in keys), simulated_now()
        lags: list[tuple[float, float]] = []
        while simulated_now() - start < span:
            lags.append((simulated_now() - start, lag()))
            time.sleep(0.1)
        cpu1, lens1, end = cpu_seconds(feed.pid), sum(int(r.xlen(k)) for k in keys), simulated_now()
    finally:
        fleet.close()
    sim = ground_truth.terminal(CAPACITY_SERVER, rate)
    offered = sum(len(ground_truth.ticks(sim, s, int(start * 1000), int(end * 1000))) for s in symbols)
    published = lens1 - lens0
    first, last = (lags[0][1], lags[-1][1]) if lags else (float("inf"), float("inf"))
    keeping_up = last <= LAG_LIMIT or last < first  # caught up, or catching up
    return Step(rate, offered / (end - start), published / (end - start), last,
                (cpu1 - cpu0) * 1e6 / max(published, 1), keeping_up)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
