"""P3: account switches (SDK ``login()`` calls) for a backlog served by several workers, three ways.

A seeded Zipf(1.1) trace of ``mt5.account_info`` requests over 200 accounts is published as a backlog, then 4
workers start and drain it:

- (a) round-robin FIFO, Celery's default: every message to the shared ``mt5`` queue, strict FIFO;
- (b) affinity: no queue given, the router sends each account to its rendezvous-hashed worker; strict FIFO;
- (c) affinity + batched serving: as (b), each worker regrouping ``MT5_BATCH_WINDOW`` queued requests by
  account.

Logins are summed from each worker's ``mt5.pool_stats``. The lower bound is computed from the trace: each
worker's share under (b)'s assignment, cut into consecutive windows, one login per account per window.
Targets: (c) <= 0.2x (a), (c) <= 2x the bound. Login counts come from the full trace on the ``realistic``
profile scaled by ``--count-scale`` (0.1: login 50 ms, still far above Celery's per-task cost, so a terminal
with work queued is busy, as on the real profile); wall times from a prefix of it on ``realistic`` itself.

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
from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.routing import choose, terminal_queue_name
from mt5_worker.fleet.sessions import connect
from mt5_worker.terminal.specs import LATENCY_PROFILES
from mt5_worker.worker.reaper import queue_length

LOGIN_TARGET, BOUND_TARGET = 0.2, 2.0


@dataclass(frozen=True)
class Variant:
    key: str
    name: str
    queue: str | None  # None: the router decides (affinity)
    batched: bool


VARIANTS = (
    Variant("a", "round-robin FIFO", "mt5", batched=False),
    Variant("b", "affinity FIFO", None, batched=False),
    Variant("c", "affinity + batched", None, batched=True),
)


@dataclass
class Outcome:
    logins: int
    wall: float  # workers started -> last result
    served: dict[str, int]  # terminal id -> requests it served (logins + reuses)
    batches: list[int]  # sizes of the batches the workers dispatched (wall runs only: they log at INFO)


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
    print(f"{'variant':<24} {'logins':>8} {'vs (a)':>7} {'vs bound':>9}   wall s ({len(wall_trace):,} requests)")
    for v in VARIANTS:
        print(f"{'(' + v.key + ') ' + v.name:<24} {r.counts[v.key].logins:>8,} {r.ratio(v.key, 'a'):>7.3f} "
              f"{r.ratio(v.key, 'bound'):>9.2f}   {r.walls[v.key].wall:.1f}")  # fmt: skip
    print(f"{'lower bound':<24} {r.bound():>8,} {r.bound() / r.counts['a'].logins:>7.3f} {1:>9.2f}")
    print(f"{'one per account/worker':<24} {r.distinct:>8,}")
    print(f"(c) in the wall run: {r.batch_note()}")
    for over, target in (("a", LOGIN_TARGET), ("bound", BOUND_TARGET)):
        value = r.ratio("c", over)
        what = "round-robin" if over == "a" else "lower-bound"
        print(report.ratio_line("P3", f"batched / {what} logins", value, f"<= {target:g}x", value <= target))

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
    registry = WorkerRegistry(connect(f.redis_url), ttl=300)
    now = time.time()
    for tid in tids:
        registry.heartbeat(tid, setup.pool_size, now)
    live = registry.read(now).live
    if live != dict.fromkeys(tids, setup.pool_size):
        raise RuntimeError(f"registry reads {live}, expected {tids}")
    f.router.refresh()  # the client's router caches membership for a second: read what we just wrote
    ids = f.publish("mt5.account_info", [kwargs_of(a) for a in trace], queue=v.queue)
    queued = {tid: queue_length(f.app, terminal_queue_name(tid)) for tid in tids}
    if v.queue is None:  # the router must have placed every request where rendezvous hashing says
        expected = Counter(assignment[a[0]] for a in trace)
        if queued != {tid: expected[tid] for tid in tids}:
            raise RuntimeError(f"affinity routing placed {queued}, expected {dict(expected)}")
    elif queue_length(f.app, v.queue) != len(trace):
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
    return Outcome(sum(m["logins"] for m in stats.values()), max(map(done_at, metas)) - started,
                   served, batches)  # fmt: skip


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


def write_docs(docs: Path, r: Results) -> None:
    s, quick = r.setup, r.setup.quick
    n, n_wall, a = len(r.trace), len(r.wall_trace), r.counts["a"].logins
    chart = docs.parent / "p3_routing.png"
    labels = [f"({v.key}) {v.name}" for v in VARIANTS]
    report.bar_chart(
        chart, f"P3: {n:,} requests, Zipf(1.1) over {s.accounts} accounts, {s.workers} workers",
        report.Panel("SDK login() calls", [*labels, f"lower bound (window {s.window})"],
                     {"logins": [r.counts[v.key].logins for v in VARIANTS] + [r.bound()]}, "logins",
                     hline=(LOGIN_TARGET * a, f"target for (c): {LOGIN_TARGET:g} x (a)")),
        report.Panel(f"wall time, {n_wall:,} requests, realistic latency{' x0.01' if quick else ''}", labels,
                     {"seconds": [r.walls[v.key].wall for v in VARIANTS]}, "seconds, workers started -> last result"),
    )  # fmt: skip
    rows = [(f"({v.key}) {v.name}", f"{r.counts[v.key].logins:,}", f"{r.ratio(v.key, 'a'):.3f}",
             f"{r.ratio(v.key, 'bound'):.2f}", f"{r.walls[v.key].wall:.1f}", f"{r.walls[v.key].logins:,}",
             f"{max(r.walls[v.key].served.values()):,}") for v in VARIANTS]  # fmt: skip
    rows.append((f"lower bound (window {s.window})", f"{r.bound():,}", f"{r.bound() / a:.3f}", "1.00", "",
                 f"{r.bound(trace=r.wall_trace):,}", ""))  # fmt: skip
    rows.append(("one login per account per worker", f"{r.distinct:,}", f"{r.distinct / a:.3f}", "", "", "", ""))
    windows = sorted({10, 25, s.window, 2 * s.window, 4 * s.window, 10 * s.window})
    by_window = report.table(["window"] + [str(w) for w in windows],
                             [["bound / (a)"] + [f"{r.bound(w) / a:.3f}" for w in windows]])  # fmt: skip
    queued = Counter(r.assignment[login] for login, _, _ in r.trace)
    wall_queued = Counter(r.assignment[login] for login, _, _ in r.wall_trace)
    busiest, most = wall_queued.most_common(1)[0]
    ok = {True: "met", False: "NOT met"}
    vs_rr, vs_bound = r.ratio("c", "a"), r.ratio("c", "bound")
    count_source = (
        (
            f"realistic x{s.count_scale:g} (login {s.count_scale * 500:g} ms: far above Celery's "
            "per-task cost of a few ms, so a worker with requests queued is busy logging in, as on the "
            "real profile, where this run would take about an hour)"
        )
        if s.count_scale
        else "zero"
    )
    if quick:
        count_source = "realistic x0.01"
    wall_source = "the same run" if quick else (
        f"the first {n_wall:,} requests of the trace, `realistic` profile (login 0.5 s; the smaller trace keeps "
        "the round-robin run to a few minutes)"
    )  # fmt: skip
    body = f"""\
## P3: account switches with several workers: round-robin vs affinity vs affinity + batching

A backlog of {n:,} `mt5.account_info` requests, Zipf(1.1) over {s.accounts} accounts (seed {s.seed}), is
published first; then {s.workers} workers start (each `--pool=prefork --concurrency=1`,
`MT5_CONNECTION_POOL_SIZE={s.pool_size}`: every account fits, no eviction muddies the count) and drain it.
(a) sends every request to the shared `mt5` queue (what Celery does by default: whichever worker is free takes
the next one), `MT5_BATCH_WINDOW=1`. (b) sends without a queue: the router (rendezvous hashing over the
registry, in which the script announces the {s.workers} terminal ids before publishing) puts each account on one
worker's `mt5.terminal.<id>` queue, `MT5_BATCH_WINDOW=1`; the script checks every queue got exactly the
requests hashing says (per worker: {", ".join(f"{k} {v:,}" for k, v in sorted(queued.items()))}). (c) is (b)
with `MT5_BATCH_WINDOW={s.window}` and `MT5_BATCH_MAX_DELAY` at its default, 0.1 s. Logins = the sum of
`metrics.logins` from each worker's `mt5.pool_stats`. The lower bound cuts each worker's share of the trace
(under (b)'s assignment) into consecutive windows of {s.window} and counts one login per distinct account per
window; the batcher's windows are not cut at exactly the same places and it starts each window on the account
the terminal is already on, so (c) could land a little below it.

Login counts: the {n:,}-request trace, `MT5_SIMULATOR_LATENCY` = {count_source}. Wall
times: {wall_source}, from starting the workers (their start-up and `initialize()` included, the same for all
three) to the last result; the last two columns are the logins of those runs and the requests its busiest
worker served.

{
        report.table(
            [
                "variant",
                "logins",
                "vs (a)",
                "vs bound",
                f"wall s ({n_wall:,} req.)",
                "logins in wall run",
                "busiest worker served",
            ],
            rows,
        )
    }

**(c) / (a) logins: {vs_rr:.3f}; target <= {LOGIN_TARGET:g}x: {ok[vs_rr <= LOGIN_TARGET]}.**
**(c) / lower bound: {vs_bound:.2f}; target <= {BOUND_TARGET:g}x: {ok[vs_bound <= BOUND_TARGET]}.**

The lower bound itself, as a fraction of (a), for other windows on the same trace and assignment (no run
needed: it is arithmetic on the trace):

{by_window}

How (c) batched in the wall run (sizes from the workers' `mt5.batch.dispatched` log lines; those runs log
at INFO): {r.batch_note()}.

Wall time follows the busiest terminal, not the total: under affinity the busiest worker's queue holds
{most:,} of the {n_wall:,} requests of the wall run ({busiest}, {most / n_wall:.0%}: the hottest accounts of a
Zipf trace land where they hash), while round-robin spreads requests evenly over whichever worker is free.

![P3 chart]({chart.name})

Command: `{report.command("bench.p3_routing", report.argv())}`; machine: {report.machine()}.
"""
    verdicts = [
        report.Verdict(
            "logins, affinity + batched / round-robin", f"{vs_rr:.2f}x", f"<= {LOGIN_TARGET:g}x", vs_rr <= LOGIN_TARGET
        ),
        report.Verdict(
            "logins, affinity + batched / lower bound",
            f"{vs_bound:.2f}x",
            f"<= {BOUND_TARGET:g}x",
            vs_bound <= BOUND_TARGET,
        ),
    ]
    report.update_section(docs, "P3", body, verdicts)


if __name__ == "__main__":
    raise SystemExit(main())
