"""P4: the idle sweep with 100,000 live sessions in Redis against 1,000, the same number expiring.

``WorkerRuntime.sweep`` asks Redis for the sessions last used before the cutoff (a score range query on the
worker's index), evicts them from the manager's pool and removes them from Redis. Its cost should follow
what expired, not how many sessions Redis lists. Both runs put every live session in the swept worker's own
index (the harder case: with many workers each would list only its own). For contrast the script also
times reading the whole index, what a sweep that scanned every session would pay. Target: <= 1.5x.

    .venv/bin/python -m bench.p4_sweep [--quick] [--live 1000 100000] [--expiring 100] [--repeats 200] [--docs PATH]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

from bench import report
from bench.harness import Fleet, accounts, fleet, specs
from mt5_worker.fleet.sessions import SessionStore, connect
from mt5_worker.logging import configure_logging
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager.snapshots import SessionInfo
from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.worker.runtime import WorkerRuntime

TARGET = 1.5
IDLE = 300.0
T0 = 1_900_000_000.0  # the expiring sessions' last use
SWEEP_AT = T0 + IDLE + 1


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--live", type=int, nargs=2, help="live sessions, small and large (default 1000 100000)")
    parser.add_argument("--expiring", type=int, help="sessions expiring at each sweep (default 100; quick 20)")
    parser.add_argument("--repeats", type=int, help="sweeps timed per size (default 200; quick 5)")
    args = parser.parse_args(argv)
    small, large = args.live or ((200, 2000) if args.quick else (1000, 100_000))
    expiring = args.expiring or (20 if args.quick else 100)
    repeats = args.repeats or (5 if args.quick else 200)

    configure_logging("console", "WARNING")  # the manager logs every SDK call at INFO
    with fleet(args.keep_logs, forked=args.quick) as f:
        results = run(f, (small, large), expiring, repeats)
    (s_sweep, s_scan), (l_sweep, l_scan) = results[small], results[large]
    ratio = l_sweep / s_sweep
    print(f"P4 idle sweep: {expiring} sessions expiring, median of {repeats} sweeps, real Redis")
    print(f"{'live sessions':>14} {'sweep ms':>9} {'full scan ms':>13}")
    for live, (sweep, scan) in results.items():
        print(f"{live:>14,} {sweep * 1e3:>9.3f} {scan * 1e3:>13.3f}")
    met = ratio <= TARGET
    print(report.ratio_line("P4", f"sweep time {large:,} / {small:,} live sessions", ratio, f"<= {TARGET:g}x", met))

    docs = report.docs_arg(args.quick, args.docs)
    if docs is not None:
        chart = docs.parent / "p4_sweep.png"
        panel = report.Panel(
            f"{expiring} sessions expiring, medians", ["sweep (range query)", "reading the whole index (contrast)"],
            {f"{small:,} live": [s_sweep * 1e3, s_scan * 1e3], f"{large:,} live": [l_sweep * 1e3, l_scan * 1e3]},
            "milliseconds (log scale)", log=True,
        )  # fmt: skip
        report.bar_chart(chart, "P4: idle sweep against live sessions in Redis", panel)
        rows = [(f"{live:,}", f"{sweep * 1e3:.3f}", f"{scan * 1e3:.3f}") for live, (sweep, scan) in results.items()]
        rows.append(("ratio", f"**{ratio:.2f}x**", f"{l_scan / s_scan:.0f}x"))
        body = f"""\
## P4: idle sweep cost against the number of live sessions

`WorkerRuntime.sweep` on a real Redis (private `redis-server`), in this process: a manager on the simulator
(zero latency) holds {expiring} sessions last used {IDLE:g} s + 1 s before the sweep, and the worker's
Redis index lists those plus {small:,} or {large:,} live sessions (all in the swept worker's own index, the
worst case). Each of {repeats} timed sweeps per size evicts exactly the {expiring} idle sessions (checked),
which are logged in again before the next one; the two sizes live in two workers' indexes in the same Redis
and their sweeps alternate, so load from elsewhere on the machine hits both alike. "Reading the whole index"
times a `ZRANGE 0 -1 WITHSCORES`, what a sweep that looked at every session would pay at least.

{report.table(["live sessions", "sweep, median ms", "reading the whole index, median ms"], rows)}

**Ratio (sweep with {large:,} / {small:,} live sessions): {ratio:.2f}x; target <= {TARGET:g}x:
{"met" if met else "NOT met"}.** The sweep is a score range query (`ZRANGEBYSCORE`, O(log n + expired)) plus
work on the expired sessions only, so {large // small}x more live sessions barely move it, while a scan grows
with them.

![P4 chart]({chart.name})

Command: `{report.command("bench.p4_sweep", report.argv())}`; machine: {report.machine()}.
"""
        report.update_section(
            docs,
            "P4",
            body,
            [
                report.Verdict(
                    f"idle sweep time, {large:,} / {small:,} live sessions", f"{ratio:.2f}x", f"<= {TARGET:g}x", met
                )
            ],
        )
    return 0


class InProcessWorker:
    """One worker's runtime in this process, so a sweep can be timed alone: its manager (holding the sessions
    that will expire) and its Redis index with ``live`` more. The fleet provides only the Redis."""

    def __init__(self, f: Fleet, live: int, expiring: int) -> None:
        settings = f.settings(pool_size=expiring, idle_timeout=IDLE)
        self.accounts = specs(accounts(expiring))
        self.clock = Clock()
        self.manager = MT5ConnectionManager(SimulatedTerminal(self.accounts), settings, clock=self.clock)
        self.client = connect(f.redis_url, timeout=30)
        self.store = SessionStore(self.client, f"bench-p4-{live}")
        self.runtime = WorkerRuntime(settings, self.manager, self.store, clock=self.clock)
        self.live = live
        for chunk in _live_sessions(live, last_used=SWEEP_AT - 1):
            self.store.record(chunk)

    def sweep(self) -> float:
        """Log the accounts in at T0, then time one sweep at SWEEP_AT; checks it evicted exactly them."""
        self.clock.now = T0
        for a in self.accounts:
            self.manager.login(a.login, a.password.get_secret_value(), a.server)
        self.store.record(self.manager.sessions())
        self.clock.now = SWEEP_AT
        started = time.perf_counter()
        evicted = self.runtime.sweep(SWEEP_AT)
        elapsed = time.perf_counter() - started
        if len(evicted) != len(self.accounts):
            raise RuntimeError(f"expected {len(self.accounts)} evictions, got {len(evicted)}")
        return elapsed

    def scan(self) -> float:
        started = time.perf_counter()
        listed = self.client.zrange(self.store.index_key, 0, -1, withscores=True)
        elapsed = time.perf_counter() - started
        if len(listed) != self.live:
            raise RuntimeError(f"expected {self.live} live sessions listed, found {len(listed)}")
        return elapsed


def run(f: Fleet, sizes: tuple[int, int], expiring: int, repeats: int) -> dict[int, tuple[float, float]]:
    """Median seconds of a sweep and of a full index read per size; the sizes alternate, so drift on a busy
    machine hits both alike."""
    workers = {live: InProcessWorker(f, live, expiring) for live in sizes}
    sweeps: dict[int, list[float]] = {live: [] for live in sizes}
    for rep in range(repeats):
        for live in sizes if rep % 2 == 0 else sizes[::-1]:
            sweeps[live].append(workers[live].sweep())
    # Scans after the sweeps: their garbage must not land in the sweeps' timings.
    scans = {live: [workers[live].scan() for _ in range(min(repeats, 5))] for live in sizes}
    for w in workers.values():
        w.manager.shutdown()
    return {live: (statistics.median(sweeps[live]), statistics.median(scans[live])) for live in sizes}


def _live_sessions(n: int, last_used: float, chunk: int = 5000) -> Iterator[list[SessionInfo]]:
    for start in range(0, n, chunk):
        yield [SessionInfo(login=50_000_000 + i, server="Bench-Live", pooled=True, active=False, created=last_used,
                           last_used=last_used, uses=1) for i in range(start, min(n, start + chunk))]  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
