"""P5: end-to-end latency of open-loop traffic at 50% and 90% of the fleet's capacity, four ways of serving it.

4 workers on the ``realistic`` profile scaled as P3's login counts are (x0.1: login 50 ms, every other call
0.2 ms), every account pooled in every worker; Zipf(1.1) traffic over 200 accounts. A web app does not wait
for a backlog to form: requests arrive open-loop, Poisson, each sent with ``AsyncMT5Client.account_info`` and
timed from the call to the result at the client. The fleet's capacity is what Celery's default achieves:
the rate at which round-robin FIFO drains a backlog of the same traffic (measured first). Then, at 50% and
90% of it:

- (a) round-robin FIFO: every request to the shared queue (the client's registry is empty), window 1;
- (b) affinity FIFO: rendezvous hashing, ``MT5_ROUTING_LOAD_FACTOR=0``, window 1;
- (c) affinity + batching: as (b), ``MT5_BATCH_WINDOW=50``;
- (d) bounded-load + batching: as (c), ``MT5_ROUTING_LOAD_FACTOR`` and ``MT5_ROUTING_LOAD_FLOOR`` at their
  defaults.

Target at 90%: (d)'s p99 <= (a)'s p99 and (d)'s p50 <= half of (a)'s p50.

    .venv/bin/python -m bench.p5_latency [--quick] [--seconds 40] [--factor F] [--floor N] [--docs PATH]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import replace
from typing import Any

from bench import report
from bench.harness import Account, Fleet, accounts, fleet, kwargs_of, rate, scaled, specs, zipf_trace
from bench.p5_report import write_docs
from bench.p5_results import LOAD_FACTOR, LOAD_FLOOR, P50_TARGET, P99_TARGET, VARIANTS, Run, Setup, Variant
from harness.accounts import write_accounts
from mt5_worker.client.async_client import AsyncMT5Client
from mt5_worker.fleet.routing import terminal_queue_name
from mt5_worker.simulator.specs import LATENCY_PROFILES

EMPTY_REGISTRY_DB = 15  # the round-robin client reads its registry here: nobody registers, so it routes nowhere


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--seconds", type=float, help="arrivals per run, in seconds (default 40; quick 0.5)")
    parser.add_argument("--accounts", type=int, help="accounts (default 200; quick 30)")
    parser.add_argument("--workers", type=int, help="workers (default 4; quick 2)")
    parser.add_argument("--scale", type=float, help="realistic latency x this (default 0.1; quick 0.02)")
    parser.add_argument("--seed", type=int, default=5, help="traffic seed (default 5)")
    parser.add_argument("--factor", type=float, default=LOAD_FACTOR, help=f"(d)'s load factor (default {LOAD_FACTOR})")
    parser.add_argument("--floor", type=int, default=LOAD_FLOOR, help=f"(d)'s load floor (default {LOAD_FLOOR})")
    args = parser.parse_args(argv)
    quick = args.quick
    seconds = args.seconds or (0.5 if quick else 40.0)
    n_accounts, n_workers = args.accounts or (30 if quick else 200), args.workers or (2 if quick else 4)
    loads = (0.9,) if quick else (0.5, 0.9)
    scale = args.scale or (0.02 if quick else 0.1)
    latency = scaled(LATENCY_PROFILES["realistic"], scale)
    accts = accounts(n_accounts)
    names = [f"bench-{i}" for i in range(n_workers)]

    variants = [replace(v, load_factor=args.factor, load_floor=args.floor) if v.key == "d" else v for v in VARIANTS]
    runs: dict[tuple[str, float], Run] = {}
    with fleet(args.keep_logs) as f:
        file = write_accounts(f.log_dir / "accounts.json", specs(accts))
        worker_settings = {"MT5_SIMULATOR_ACCOUNTS": file, "MT5_SIMULATOR_LATENCY": latency,
                           "MT5_CONNECTION_POOL_SIZE": n_accounts}  # fmt: skip
        capacity = None
        for window in (1, 50):  # (a) and (b) share FIFO workers, (c) and (d) batching ones
            f.fresh_redis()
            for name in names:
                f.start_worker(name, MT5_BATCH_WINDOW=window, **worker_settings)
            _logins(f)  # each worker answers: it is up and consuming its queue
            if capacity is None:
                capacity = measure_capacity(f, zipf_trace(accts, 40 if quick else 1500, 1.1, args.seed + 1))
                print(f"  capacity (round-robin FIFO draining a backlog): {capacity:.1f} req/s", flush=True)
            for v in (v for v in variants if v.window == window):
                for load in loads:
                    arrivals = arrival_times(load * capacity, seconds, args.seed + int(load * 100))
                    trace = zipf_trace(accts, len(arrivals), 1.1, args.seed + int(load * 100))
                    run = runs[v.key, load] = serve(f, v, arrivals, trace)
                    print(f"  ({v.key}) {v.name} at {load:.0%}: {len(trace)} requests, p50 {run.pct(50) * 1e3:.0f} ms,"
                          f" p99 {run.pct(99) * 1e3:.0f} ms, {run.logins} logins", flush=True)  # fmt: skip
            f.stop_workers()
    assert capacity is not None

    print(f"P5: open-loop Poisson, Zipf(1.1) over {n_accounts} accounts, {n_workers} workers, realistic "
          f"x{scale:g}; capacity {capacity:.1f} req/s")  # fmt: skip
    for load in loads:
        for v in variants:
            r = runs[v.key, load]
            print(f"{load:>4.0%} ({v.key}) {v.name:<26} p50 {r.pct(50) * 1e3:8.1f}  p95 {r.pct(95) * 1e3:8.1f}  "
                  f"p99 {r.pct(99) * 1e3:8.1f} ms  logins/request {r.logins / len(r.latencies):.2f}")  # fmt: skip
    a, d = runs["a", 0.9], runs["d", 0.9]
    p99_ratio, p50_ratio = d.pct(99) / a.pct(99), d.pct(50) / a.pct(50)
    print(report.ratio_line("P5", "bounded-load + batching p99 / round-robin FIFO p99 at 90%", p99_ratio,
                            f"<= {P99_TARGET:g}", p99_ratio <= P99_TARGET))  # fmt: skip
    print(report.ratio_line("P5", "bounded-load + batching p50 / round-robin FIFO p50 at 90%", p50_ratio,
                            f"<= {P50_TARGET:g}", p50_ratio <= P50_TARGET))  # fmt: skip

    docs = report.docs_arg(quick, args.docs)
    if docs is not None:
        setup = Setup(n_accounts, n_workers, scale, seconds, capacity, loads, quick, args.factor, args.floor)
        write_docs(docs, setup, runs)
    return 0


def arrival_times(rate_: float, seconds: float, seed: int) -> list[float]:
    """Poisson arrivals: exponential gaps at ``rate_`` per second, offsets from the start, over ``seconds``."""
    rng, at, times = random.Random(seed), 0.0, []
    while (at := at + rng.expovariate(rate_)) < seconds:
        times.append(at)
    return times


def measure_capacity(f: Fleet, trace: list[Account]) -> float:
    """Requests per second round-robin FIFO serves from a backlog (completions over their span)."""
    ids = f.publish("mt5.account_info", [kwargs_of(a) for a in trace], queue="mt5")
    return rate(f.results(ids, timeout=120 + len(trace)))


def serve(f: Fleet, v: Variant, arrivals: list[float], trace: list[Account]) -> Run:
    registry = f.redis_url if v.routed else f"{f.redis_url.rsplit('/', 1)[0]}/{EMPTY_REGISTRY_DB}"
    settings = f.settings(sessions_redis_url=registry, routing_load_factor=v.load_factor,
                          routing_load_floor=v.load_floor, request_timeout=300)  # fmt: skip
    before = _logins(f)
    started = time.time()
    latencies = asyncio.run(_open_loop(settings, arrivals, trace))
    achieved = len(trace) / (time.time() - started)
    return Run(latencies, _logins(f) - before, achieved)


async def _open_loop(settings: Any, arrivals: list[float], trace: list[Account]) -> list[float]:
    async with AsyncMT5Client(settings) as client:

        async def one(account: Account) -> float:
            kw = kwargs_of(account)
            sent = time.perf_counter()
            await client.account_info(kw["login"], kw["server"], kw["password"])
            return time.perf_counter() - sent

        start = time.perf_counter() + 0.05
        tasks = []
        for at, account in zip(arrivals, trace, strict=True):
            delay = start + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(account)))
        return list(await asyncio.gather(*tasks))


def _logins(f: Fleet) -> int:
    """SDK logins so far, summed over the workers (each asked through its own queue)."""
    return sum(f.call("mt5.pool_stats", queue=terminal_queue_name(w.nodename), timeout=120)["metrics"]["logins"]
               for w in f.workers)  # fmt: skip


def percentiles(run: Run) -> dict[str, float]:
    return {f"p{q}": run.pct(q) * 1e3 for q in (50, 95, 99)} | {"mean": statistics.mean(run.latencies) * 1e3}


if __name__ == "__main__":
    raise SystemExit(main())
