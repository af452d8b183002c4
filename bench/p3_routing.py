"""P3: account switches (SDK ``login()`` calls) and balance for a backlog served by several workers, four ways.

A seeded Zipf(1.1) trace of ``mt5.account_info`` requests over 200 accounts is published as a backlog, then 4
workers start and drain it:

- (a) round-robin FIFO, Celery's default: every message to the shared ``mt5`` queue, strict FIFO;
- (b) affinity: no queue given, the router sends each account to its rendezvous-hashed worker; strict FIFO;
- (c) affinity + batched serving: as (b), each worker regrouping ``MT5_BATCH_WINDOW`` queued requests by
  account;
- (d) bounded-load + batched serving: as (c), routed with ``MT5_ROUTING_LOAD_FACTOR`` and ``_FLOOR`` at their
  defaults: an account's request goes to its next choice while its terminal holds more than (1 + factor) x the
  mean (the router counts its own sends, the backlog being published before the workers start).

Logins are summed from each worker's ``mt5.pool_stats``. The lower bound is computed from the trace: each
worker's share under (b)'s assignment, cut into consecutive windows, one login per account per window.
Targets: (c) <= 0.2x (a), (c) <= 2x the bound; (d): wall time <= 1.2x the balanced ideal (each worker's time
from start to its last result, averaged: the total service time over the workers) and logins <= 1.2x the bound.
Login counts come from the full trace on the ``realistic`` profile scaled by ``--count-scale`` (0.1: login
50 ms, still far above Celery's per-task cost, so a terminal with work queued is busy, as on the real
profile); wall times from a prefix of it on ``realistic`` itself.

    .venv/bin/python -m bench.p3_routing [--quick] [--requests 10000] [--wall-requests 1000] [--docs PATH]
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench import report
from bench.harness import Account, Fleet, accounts, done_at, fleet, kwargs_of, scaled, specs, zipf_trace
from bench.p3_report import write_docs
from bench.p3_results import (
    BALANCE_TARGET,
    BALANCED_LOGINS_TARGET,
    BOUND_TARGET,
    LOAD_FLOOR,
    VARIANTS,
    Outcome,
    Results,
    Setup,
    Variant,
)
from harness.accounts import write_accounts
from mt5_worker.fleet.load import LoadReport
from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.routing import AffinityRouter, choose, terminal_queue_name
from mt5_worker.fleet.sessions import connect
from mt5_worker.simulator.specs import LATENCY_PROFILES
from mt5_worker.worker.reaper import queue_length


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--requests", type=int, help="trace length for the login counts (default 10000)")
    parser.add_argument("--wall-requests", type=int, help="trace prefix for the wall times (default 1000)")
    parser.add_argument("--accounts", type=int, help="accounts (default 200; quick 30)")
    parser.add_argument("--workers", type=int, help="workers (default 4; quick 2)")
    parser.add_argument("--window", type=int, help="MT5_BATCH_WINDOW for (c) and the bound (default 50; quick 10)")
    parser.add_argument("--pool-size", type=int, help="MT5_CONNECTION_POOL_SIZE (default: --accounts)")
    parser.add_argument("--seed", type=int, default=11, help="trace seed (default 11)")
    parser.add_argument("--count-scale", type=float, default=0.1,
                        help="latency of the login-count runs: realistic x this (default 0.1; 0 = zero)")  # fmt: skip
    args = parser.parse_args(argv)
    quick = args.quick
    n = args.requests or (120 if quick else 10_000)
    n_accounts = args.accounts or (30 if quick else 200)
    setup = Setup(workers=args.workers or (2 if quick else 4), window=args.window or (10 if quick else 50),
                  pool_size=args.pool_size or n_accounts, accounts=n_accounts, seed=args.seed, quick=quick,
                  count_scale=0.01 if quick else args.count_scale)  # fmt: skip

    accts = accounts(n_accounts)
    trace = zipf_trace(accts, n, 1.1, args.seed)
    wall_trace = trace if quick else trace[: args.wall_requests or 1000]
    tids = [f"bench-{i}" for i in range(setup.workers)]
    assignment = {a[0]: str(choose(a[0], dict.fromkeys(tids, setup.pool_size))) for a in accts}
    wall_profile = scaled(LATENCY_PROFILES["realistic"], 0.01 if quick else 1.0)
    # Batches gather while the terminal is busy, so counts need logins that keep it busy: on zero latency a
    # backlog drains about as fast as it arrives and little gathers. Quick: one run per variant gives both.
    count_profile = scaled(LATENCY_PROFILES["realistic"], setup.count_scale)
    phases = [("logins+wall", trace, wall_profile)] if quick else [("logins", trace, count_profile),
                                                                   ("wall", wall_trace, wall_profile)]  # fmt: skip
    outcomes: dict[str, dict[str, Outcome]] = {}
    with fleet(args.keep_logs, forked=args.quick) as f:
        file = write_accounts(f.log_dir / "accounts.json", specs(accts))
        for phase, requests, latency in phases:
            outcomes[phase] = {}
            for v in VARIANTS:
                o = outcomes[phase][v.key] = run(f, setup, file, v, requests, latency, assignment)
                print(f"  [{phase}] ({v.key}) {v.name}: {len(requests)} requests, {o.logins} logins, "
                      f"{o.wall:.1f} s", flush=True)  # fmt: skip
    r = Results(setup, trace, wall_trace, assignment, outcomes[phases[0][0]], outcomes[phases[-1][0]])

    print(f"P3: {n:,} account_info requests, Zipf(1.1) over {n_accounts} accounts (seed {args.seed}), "
          f"{setup.workers} workers, pool {setup.pool_size}, window {setup.window}")  # fmt: skip
    print(f"{'variant':<28} {'logins':>8} {'vs (a)':>7} {'vs bound':>9}   wall s ({len(wall_trace):,} requests)")
    for v in VARIANTS:
        print(f"{'(' + v.key + ') ' + v.name:<28} {r.counts[v.key].logins:>8,} {r.ratio(v.key, 'a'):>7.3f} "
              f"{r.ratio(v.key, 'bound'):>9.2f}   {r.walls[v.key].wall:.1f}")  # fmt: skip
    print(f"{'lower bound':<28} {r.bound():>8,} {r.bound() / r.counts['a'].logins:>7.3f} {1:>9.2f}")
    print(f"{'one per account/worker':<28} {r.distinct:>8,}")
    print(f"(c) in the wall run: {r.batch_note()}")
    print(f"(d) logins under its own placement's bound: {r.placed_bound('d'):,}; wall / balanced ideal: " +
          ", ".join(f"({k}) {r.walls[k].balance:.2f}" for k in "bcd" if r.walls[k].balance))  # fmt: skip
    value = r.ratio("c", "bound")
    print(f"batched / round-robin logins: {r.ratio('c', 'a'):.3f} (no target: the lower bound itself is most of it)")
    print(report.ratio_line("P3", "batched / lower-bound logins", value, f"<= {BOUND_TARGET:g}x",
                            value <= BOUND_TARGET))  # fmt: skip
    balance, logins = r.walls["d"].balance or 0.0, r.ratio("d", "bound")
    print(report.ratio_line("P3", "bounded-load wall / balanced ideal", balance, f"<= {BALANCE_TARGET:g}x",
                            balance <= BALANCE_TARGET))  # fmt: skip
    print(report.ratio_line("P3", "bounded-load / lower-bound logins", logins, f"<= {BALANCED_LOGINS_TARGET:g}x",
                            logins <= BALANCED_LOGINS_TARGET))  # fmt: skip

    docs = report.docs_arg(quick, args.docs)
    if docs is not None:
        write_docs(docs, r)
    return 0


def run(
    f: Fleet, setup: Setup, accounts_file: Path, v: Variant, trace: Sequence[Account], latency: dict[str, float],
    assignment: dict[int, str],
) -> Outcome:  # fmt: skip
    """Publish ``trace`` as a backlog the way ``v`` routes it, then start the workers and let them drain it."""
    f.fresh_redis()
    tids = [f"bench-{i}" for i in range(setup.workers)]
    # Announce the workers before they exist, as they will announce themselves, so the router can place the
    # backlog now; each worker then keeps its own entry alive.
    # An idle terminal's load report too, as a worker's first one says: (d)'s router counts its sends from here.
    registry = WorkerRegistry(connect(f.redis_url), ttl=300)
    now = time.time()
    for tid in tids:
        registry.heartbeat(tid, setup.pool_size, now)
        registry.report_load(tid, LoadReport(0, 0.0, now))
    live = registry.read(now).live
    if live != dict.fromkeys(tids, setup.pool_size):
        raise RuntimeError(f"registry reads {live}, expected {tids}")
    placed = None
    if v.queue is None:  # routed as a client routes, each request by the variant's router
        router = AffinityRouter(registry, cache_seconds=3600, load_factor=v.load_factor, load_floor=LOAD_FLOOR)
        queues = [router.queue_for(login) for login, _, _ in trace]
        if None in queues:
            raise RuntimeError("the router found no live worker")
        placed = [str(q).removeprefix(terminal_queue_name("")) for q in queues]
        ids = f.publish_each("mt5.account_info", [kwargs_of(a) for a in trace], queues)
    else:
        ids = f.publish("mt5.account_info", [kwargs_of(a) for a in trace], queue=v.queue)
    queued = {tid: queue_length(f.app, terminal_queue_name(tid)) for tid in tids}
    if placed is not None:  # every request is where the router said; plain affinity: where hashing says
        expected = Counter(placed if v.load_factor else [assignment[a[0]] for a in trace])
        if queued != {tid: expected[tid] for tid in tids} or Counter(placed) != expected:
            raise RuntimeError(f"routing placed {queued}, expected {dict(expected)}")
    elif v.queue is not None and queue_length(f.app, v.queue) != len(trace):
        raise RuntimeError(f"expected {len(trace)} requests in {v.queue}")
    started = time.time()
    for tid in tids:
        f.start_worker(
            tid, MT5_WORKER_ID=tid, MT5_BATCH_WINDOW=setup.window if v.batched else 1,
            MT5_CONNECTION_POOL_SIZE=setup.pool_size, MT5_SIMULATOR_ACCOUNTS=accounts_file,
            MT5_SIMULATOR_LATENCY=latency or "zero",
            # Latency-bound runs log at INFO to report batch sizes (a few lines per 0.5 s login: noise).
            MT5_LOG_LEVEL="INFO" if latency else "WARNING",
        )  # fmt: skip
    login = latency.get("login", 0.0)
    metas = f.results(ids, timeout=120 + len(trace) * (login + 0.02))
    stats = {tid: f.call("mt5.pool_stats", queue=terminal_queue_name(tid))["metrics"] for tid in tids}
    batches = [size for w in f.workers for size in _batch_sizes(w.log_text())]
    f.stop_workers()
    served = {tid: m["logins"] + m["reuses"] for tid, m in stats.items()}
    finished: dict[str, float] = {}
    for tid, meta in zip(placed or [], metas, strict=False):
        finished[tid] = max(finished.get(tid, 0.0), done_at(meta) - started)
    return Outcome(sum(m["logins"] for m in stats.values()), max(map(done_at, metas)) - started,
                   served, batches, placed, finished)  # fmt: skip


def _batch_sizes(log: str) -> list[int]:
    """The ``requests`` of each ``mt5.batch.dispatched`` line (JSON logs; batches of one are not logged)."""
    sizes = []
    for line in log.splitlines():
        if '"mt5.batch.dispatched"' in line:
            with contextlib.suppress(ValueError, KeyError):
                sizes.append(int(json.loads(line)["requests"]))
    return sizes


if __name__ == "__main__":
    raise SystemExit(main())
