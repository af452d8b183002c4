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
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import report
from bench.harness import Account, Fleet, accounts, done_at, fleet, kwargs_of, scaled, specs, zipf_trace
from harness.accounts import write_accounts
from mt5_worker.fleet.load import LoadReport
from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.routing import AffinityRouter, choose, terminal_queue_name
from mt5_worker.fleet.sessions import connect
from mt5_worker.settings import Settings
from mt5_worker.simulator.specs import LATENCY_PROFILES
from mt5_worker.worker.reaper import queue_length

LOGIN_TARGET, BOUND_TARGET = 0.2, 2.0
BALANCE_TARGET, BALANCED_LOGINS_TARGET = 1.2, 1.2
# (d)'s MT5_ROUTING_LOAD_FACTOR and MT5_ROUTING_LOAD_FLOOR: the defaults
LOAD_FACTOR, LOAD_FLOOR = (
    Settings.model_fields["routing_load_factor"].default,
    Settings.model_fields["routing_load_floor"].default,
)


@dataclass(frozen=True)
class Variant:
    key: str
    name: str
    queue: str | None  # None: the router decides (affinity)
    batched: bool
    load_factor: float = 0.0  # the router's MT5_ROUTING_LOAD_FACTOR (0: plain affinity)


VARIANTS = (
    Variant("a", "round-robin FIFO", "mt5", batched=False),
    Variant("b", "affinity FIFO", None, batched=False),
    Variant("c", "affinity + batched", None, batched=True),
    Variant("d", "bounded-load + batched", None, batched=True, load_factor=LOAD_FACTOR),
)


@dataclass
class Outcome:
    logins: int
    wall: float  # workers started -> last result
    served: dict[str, int]  # terminal id -> requests it served (logins + reuses)
    batches: list[int]  # sizes of the batches the workers dispatched (wall runs only: they log at INFO)
    placed: list[str] | None  # the terminal each request was routed to (None: the shared queue)
    finished: dict[str, float]  # terminal id -> its last result, seconds after the workers started (routed runs)

    @property
    def balance(self) -> float | None:
        """Wall time / the balanced ideal: the busiest worker's time over the mean worker's. Every worker has a
        backlog from the start, so each is busy until it finishes, and the mean is the total service time
        divided among the workers (start-up included in both)."""
        if not self.finished:
            return None
        return max(self.finished.values()) / statistics.mean(self.finished.values())


@dataclass(frozen=True)
class Setup:
    workers: int
    window: int
    pool_size: int
    accounts: int
    seed: int
    quick: bool
    count_scale: float  # the login-count runs' latency: realistic x this


@dataclass
class Results:
    setup: Setup
    trace: list[Account]  # the login counts' trace
    wall_trace: list[Account]  # the wall times' trace (a prefix; the same one when --quick)
    assignment: dict[int, str]  # login -> terminal id, as rendezvous hashing places it over the workers
    counts: dict[str, Outcome]  # variant key -> outcome on ``trace``
    walls: dict[str, Outcome]  # variant key -> outcome on ``wall_trace``

    def bound(self, window: int | None = None, trace: Sequence[Account] | None = None) -> int:
        return lower_bound(self.trace if trace is None else trace, self.assignment, window or self.setup.window)

    def placed_bound(self, key: str) -> int:
        """The lower bound under the placement variant ``key``'s router actually made (request by request)."""
        placed = self.counts[key].placed
        assert placed is not None
        shares: dict[str, list[int]] = defaultdict(list)
        for (login, _, _), tid in zip(self.trace, placed, strict=True):
            shares[tid].append(login)
        w = self.setup.window
        return sum(len(set(share[i : i + w])) for share in shares.values() for i in range(0, len(share), w))

    @property
    def distinct(self) -> int:
        """One login per account per worker: the floor for any window."""
        return sum(len(set(share)) for share in _shares(self.trace, self.assignment).values())

    def batch_note(self) -> str:
        sizes = self.walls["c"].batches
        if not sizes:
            return "no batch of more than one request was dispatched"
        full = sum(size >= self.setup.window for size in sizes)
        return (f"{len(sizes):,} batches of 2+ requests dispatched, median size {statistics.median(sizes):g} "
                f"(window {self.setup.window}; {full} full), {sum(sizes):,} of {len(self.wall_trace):,} requests "
                "went through one")  # fmt: skip

    def ratio(self, key: str, over: str) -> float:
        base = self.bound() if over == "bound" else self.counts[over].logins
        return self.counts[key].logins / base


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
    n = args.requests or (300 if quick else 10_000)
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
    with fleet(args.keep_logs) as f:
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
    for over, target in (("a", LOGIN_TARGET), ("bound", BOUND_TARGET)):
        value = r.ratio("c", over)
        what = "round-robin" if over == "a" else "lower-bound"
        print(report.ratio_line("P3", f"batched / {what} logins", value, f"<= {target:g}x", value <= target))
    balance, logins = r.walls["d"].balance or 0.0, r.ratio("d", "bound")
    print(report.ratio_line("P3", "bounded-load wall / balanced ideal", balance, f"<= {BALANCE_TARGET:g}x",
                            balance <= BALANCE_TARGET))  # fmt: skip
    print(report.ratio_line("P3", "bounded-load / lower-bound logins", logins, f"<= {BALANCED_LOGINS_TARGET:g}x",
                            logins <= BALANCED_LOGINS_TARGET))  # fmt: skip

    docs = report.docs_arg(quick, args.docs)
    if docs is not None:
        from bench.p3_report import write_docs  # it reads this module's results

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


def _shares(trace: Sequence[Account], assignment: dict[int, str]) -> dict[str, list[int]]:
    """Each worker's requests (logins), in trace order."""
    shares: dict[str, list[int]] = defaultdict(list)
    for login, _, _ in trace:
        shares[assignment[login]].append(login)
    return shares


def lower_bound(trace: Sequence[Account], assignment: dict[int, str], window: int) -> int:
    """One login per account per worker per window: each worker's share cut into consecutive windows."""
    return sum(
        len(set(share[i : i + window])) for share in _shares(trace, assignment).values()
        for i in range(0, len(share), window)
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
