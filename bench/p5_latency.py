"""P5: end-to-end latency of open-loop traffic at 50% and 90% of the fleet's capacity, six ways of serving it,
in three traffic regimes.

4 workers on the ``realistic`` profile scaled as P3's login counts are (x0.1: login 50 ms, every other call
0.2 ms), every account pooled in every worker. A web app does not wait for a backlog to form: requests arrive
open-loop, Poisson, each sent with ``AsyncMT5Client.account_info`` and timed from the call to the result at the
client. Variants:

- (a) round-robin FIFO: every request to the shared queue (``MT5_ROUTING=shared``), window 1;
- (b) affinity FIFO: rendezvous hashing, ``MT5_ROUTING_LOAD_FACTOR=0``, window 1;
- (c) affinity + batching: as (b), ``MT5_BATCH_WINDOW=50``;
- (d) bounded-load + batching: every setting at its default (``MT5_ROUTING_LOAD_FACTOR`` 0.1, window 50);
- (e) shared queue + batching: ``MT5_ROUTING=shared``, window 50: every worker takes from one queue and groups
  what it reserved by account;
- (f) adaptive + batching: ``MT5_ROUTING=adaptive``, window 50: the account's terminal while it is within the load
  bound (``MT5_ROUTING_LOAD_FACTOR``, ``MT5_ROUTING_LOAD_FLOOR``), the shared queue past it.

Regimes (``--regimes``): base (200 accounts, Zipf 1.1), hot (20 accounts, Zipf 1.5), wide (2,000 accounts,
Zipf 0.3). In each, every variant's capacity is measured first (a backlog of the same traffic sent at once,
completions over their span); the open-loop runs then offer 50% and 90% of round-robin's capacity.
Targets at 90%, in every regime: the default's p99 <= 1.2x the best variant's, and its capacity >= round-robin's.

    .venv/bin/python -m bench.p5_latency [--quick] [--regimes base,hot,wide] [--variants a,d,e,f] [--loads 0.9]
        [--seconds 20] [--docs PATH]

(a), whose capacity sets the offered loads, and the default always run; the others in the order given.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import replace
from typing import Any

from bench import report
from bench.harness import Account, Fleet, accounts, fleet, kwargs_of, scaled, specs, zipf_trace
from bench.p5_report import write_docs
from bench.p5_results import (
    CACHE_SECONDS,
    CAPACITY_TARGET,
    DEFAULT,
    LOAD_FACTOR,
    LOAD_FLOOR,
    P99_TARGET,
    REGIMES,
    REPORT_INTERVAL,
    VARIANTS,
    Regime,
    RegimeRuns,
    Run,
    Setup,
    Variant,
)
from harness.accounts import write_accounts
from mt5_worker.client.async_client import AsyncMT5Client
from mt5_worker.fleet.routing import terminal_queue_name
from mt5_worker.settings import Settings
from mt5_worker.simulator.specs import LATENCY_PROFILES

POOL_LIMIT = Settings.model_fields["pool_size"].metadata[-1].le  # MT5_CONNECTION_POOL_SIZE's maximum


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--regimes", default="base,hot,wide", help="regimes to run (default base,hot,wide; quick base)")
    parser.add_argument("--seconds", type=float, help="arrivals per run, in seconds (default 20; quick 0.5)")
    parser.add_argument("--workers", type=int, help="workers (default 4; quick 2)")
    parser.add_argument("--scale", type=float, help="realistic latency x this (default 0.1; quick 0.02)")
    parser.add_argument("--seed", type=int, default=5, help="traffic seed (default 5)")
    parser.add_argument("--backlog", type=int, help="requests per capacity measurement (default 600; quick 24)")
    parser.add_argument("--factor", type=float, default=LOAD_FACTOR, help=f"(d)'s load factor (default {LOAD_FACTOR})")
    parser.add_argument("--floor", type=int, default=LOAD_FLOOR, help=f"(d)'s load floor (default {LOAD_FLOOR})")
    parser.add_argument("--adaptive-factor", type=float, help="(f)'s load factor (default --factor's)")
    parser.add_argument("--adaptive-floor", type=int, help="(f)'s load floor (default --floor's)")
    parser.add_argument("--variants", default=",".join(v.key for v in VARIANTS), help="variants to run (default all)")
    parser.add_argument("--loads", help="offered loads, fractions of (a)'s capacity (default 0.5,0.9; quick 0.9)")
    parser.add_argument("--cache-seconds", type=float, default=CACHE_SECONDS,
                        help=f"the clients' MT5_ROUTING_CACHE_SECONDS (default {CACHE_SECONDS:g})")  # fmt: skip
    parser.add_argument("--report-interval", type=float, default=REPORT_INTERVAL,
                        help=f"the workers' MT5_LOAD_REPORT_INTERVAL (default {REPORT_INTERVAL:g})")  # fmt: skip
    args = parser.parse_args(argv)
    quick = args.quick
    regimes = [REGIMES[k] for k in (["base"] if quick else args.regimes.split(","))]
    loads = tuple(float(x) for x in args.loads.split(",")) if args.loads else (0.9,) if quick else (0.5, 0.9)
    setup = Setup(workers=args.workers or (2 if quick else 4), scale=args.scale or (0.02 if quick else 0.1),
                  seconds=args.seconds or (0.5 if quick else 20.0), loads=loads,
                  quick=quick, factor=args.factor, floor=args.floor,
                  adaptive_factor=args.factor if args.adaptive_factor is None else args.adaptive_factor,
                  adaptive_floor=args.floor if args.adaptive_floor is None else args.adaptive_floor,
                  cache_seconds=args.cache_seconds, report_interval=args.report_interval,
                  backlog=args.backlog or (24 if quick else 600))  # fmt: skip
    # In the order given: a regime's first runs meet colder sessions than its last (wide: 2,000 accounts), so a
    # reversed order shows what is the variant and what its place in the run.
    chosen = list(dict.fromkeys([*args.variants.split(","), "a", DEFAULT]))
    bounds = {"d": (setup.factor, setup.floor), "f": (setup.adaptive_factor, setup.adaptive_floor)}
    by_key = {v.key: v for v in VARIANTS}
    variants = [replace(v, load_factor=bounds[k][0], load_floor=bounds[k][1]) if k in bounds else v
                for k in chosen for v in [by_key[k]]]  # fmt: skip
    results = []
    with fleet(args.keep_logs, forked=args.quick) as f:
        for regime in regimes:
            results.append(run_regime(f, setup, regime, variants, args.seed, 30 if quick else regime.accounts))

    print(f"P5: open-loop Poisson, {setup.workers} workers, realistic x{setup.scale:g}, {setup.seconds:g} s per run")
    for rr in results:
        print(f"[{rr.regime.key}] {rr.regime.name}; capacity req/s: " +
              ", ".join(f"({k}) {c:.0f}" for k, c in rr.capacity.items()))  # fmt: skip
        for load in setup.loads:
            for v in variants:
                r = rr.runs[v.key, load]
                print(f"{load:>4.0%} ({v.key}) {v.name:<26} p50 {r.pct(50) * 1e3:8.1f}  p95 {r.pct(95) * 1e3:8.1f}  "
                      f"p99 {r.pct(99) * 1e3:8.1f} ms  logins/request {r.logins / len(r.latencies):.2f}")  # fmt: skip
    worst_p99 = max(results, key=lambda rr: rr.p99_ratio())
    worst_cap = min(results, key=lambda rr: rr.capacity_ratio())
    p99, cap = worst_p99.p99_ratio(), worst_cap.capacity_ratio()
    print(report.ratio_line("P5", f"default p99 / best variant's p99 at 90%, worst regime ({worst_p99.regime.key})",
                            p99, f"<= {P99_TARGET:g}", p99 <= P99_TARGET))  # fmt: skip
    print(report.ratio_line("P5", f"default capacity / round-robin's, worst regime ({worst_cap.regime.key})",
                            cap, f">= {CAPACITY_TARGET:g}", cap >= CAPACITY_TARGET))  # fmt: skip

    docs = report.docs_arg(quick, args.docs)
    if docs is not None:
        write_docs(docs, setup, results)
    return 0


def run_regime(
    f: Fleet, setup: Setup, regime: Regime, variants: list[Variant], seed: int, n_accounts: int
) -> RegimeRuns:
    """Every variant's capacity, then its open-loop runs at each load, in one regime."""
    accts = accounts(n_accounts)
    latency = scaled(LATENCY_PROFILES["realistic"], setup.scale)
    file = write_accounts(f.log_dir / f"accounts-{regime.key}.json", specs(accts))
    # Every account pooled in every worker, up to the pool's limit of 1,000: then (wide) a worker that sees
    # every account, as round-robin and the shared queue make it, also pays for evictions.
    worker_settings = {"MT5_SIMULATOR_ACCOUNTS": file, "MT5_SIMULATOR_LATENCY": latency,
                       "MT5_CONNECTION_POOL_SIZE": min(n_accounts, POOL_LIMIT),
                       "MT5_LOAD_REPORT_INTERVAL": setup.report_interval}  # fmt: skip
    backlog = zipf_trace(accts, setup.backlog, regime.skew, seed + 1)
    out = RegimeRuns(regime, n_accounts, {}, {})
    for window in (1, 50):  # (a) and (b) share FIFO workers, (c)-(f) batching ones; (a) goes first
        group = [v for v in variants if v.window == window]
        if not group:
            continue
        f.fresh_redis()
        for i in range(setup.workers):
            f.start_worker(f"bench-{i}", MT5_BATCH_WINDOW=window, **worker_settings)
        _logins(f)  # each worker answers: it is up and consuming its queue
        for v in group:
            out.capacity[v.key] = measure_capacity(f, setup, v, backlog)
            print(f"  [{regime.key}] ({v.key}) {v.name}: capacity {out.capacity[v.key]:.1f} req/s", flush=True)
        for v in group:
            for load in setup.loads:
                arrivals = arrival_times(load * out.capacity["a"], setup.seconds, seed + int(load * 100))
                trace = zipf_trace(accts, len(arrivals), regime.skew, seed + int(load * 100))
                run = out.runs[v.key, load] = serve(f, setup, v, arrivals, trace)
                print(f"  [{regime.key}] ({v.key}) {v.name} at {load:.0%}: {len(trace)} requests, p50 "
                      f"{run.pct(50) * 1e3:.0f} ms, p99 {run.pct(99) * 1e3:.0f} ms, {run.logins} logins",
                      flush=True)  # fmt: skip
        f.stop_workers()
    assert DEFAULT in out.capacity
    return out


def arrival_times(rate_: float, seconds: float, seed: int) -> list[float]:
    """Poisson arrivals: exponential gaps at ``rate_`` per second, offsets from the start, over ``seconds``."""
    rng, at, times = random.Random(seed), 0.0, []
    while (at := at + rng.expovariate(rate_)) < seconds:
        times.append(at)
    return times


def measure_capacity(f: Fleet, setup: Setup, v: Variant, trace: list[Account]) -> float:
    """Requests per second ``v`` serves from a backlog: every request sent at once as its client sends it,
    completions at the client over their span. Sessions are warmed by a first pass, as in a running fleet."""
    settings = _client_settings(f, setup, v)
    asyncio.run(_backlog(settings, trace))
    done = sorted(asyncio.run(_backlog(settings, trace)))
    return (len(done) - 1) / (done[-1] - done[0])


async def _backlog(settings: Any, trace: list[Account]) -> list[float]:
    async with AsyncMT5Client(settings) as client:

        async def one(account: Account) -> float:
            kw = kwargs_of(account)
            await client.account_info(kw["login"], kw["server"], kw["password"])
            return time.perf_counter()

        return list(await asyncio.gather(*(one(a) for a in trace)))


def _client_settings(f: Fleet, setup: Setup, v: Variant) -> Any:
    return f.settings(routing=v.routing, routing_load_factor=v.load_factor, routing_load_floor=v.load_floor,
                      routing_cache_seconds=setup.cache_seconds, request_timeout=300)  # fmt: skip


def serve(f: Fleet, setup: Setup, v: Variant, arrivals: list[float], trace: list[Account]) -> Run:
    before = _logins(f)
    started = time.time()
    latencies = asyncio.run(_open_loop(_client_settings(f, setup, v), arrivals, trace))
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
