"""P5's section of docs/performance.md and its chart, from :mod:`bench.p5_latency`'s runs."""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.p5_results import LOAD_FACTOR, LOAD_FLOOR, P50_TARGET, P99_TARGET, VARIANTS, Run, Setup

OK = {True: "met", False: "NOT met"}


def write_docs(docs: Path, s: Setup, runs: dict[tuple[str, float], Run]) -> None:
    chart = docs.parent / "p5_latency.png"
    labels = [f"({v.key}) {v.name}" for v in VARIANTS]
    report.bar_chart(
        chart, f"P5: open-loop latency, {s.workers} workers, Zipf(1.1) over {s.accounts} accounts",
        *(report.Panel(f"{load:.0%} of capacity ({load * s.capacity:.0f} req/s)", labels,
                       {f"p{q}": [runs[v.key, load].pct(q) * 1e3 for v in VARIANTS] for q in (50, 95, 99)},
                       "ms, sent -> result at the client", log=True) for load in s.loads),
    )  # fmt: skip
    rows = [
        (f"{load:.0%}", f"({v.key}) {v.name}", f"{len(r.latencies):,}", f"{r.achieved:.1f}",
         f"{r.pct(50) * 1e3:.0f}", f"{r.pct(95) * 1e3:.0f}", f"{r.pct(99) * 1e3:.0f}",
         f"{r.logins / len(r.latencies):.2f}")
        for load in s.loads for v in VARIANTS for r in [runs[v.key, load]]
    ]  # fmt: skip
    a, d = runs["a", 0.9], runs["d", 0.9]
    p99_ratio, p50_ratio = d.pct(99) / a.pct(99), d.pct(50) / a.pct(50)
    profile = (f"`realistic` profile x{s.scale:g} (initialize {2 * s.scale:g} s, login {500 * s.scale:g} ms, other "
               f"calls {2 * s.scale:g} ms)")  # fmt: skip
    configured = "the defaults" if (s.factor, s.floor) == (LOAD_FACTOR, LOAD_FLOOR) else (
        f"the defaults are {LOAD_FACTOR:g} and {LOAD_FLOOR}"
    )  # fmt: skip
    body = f"""\
## P5: latency under open-loop traffic: round-robin, affinity, batching, bounded load

{s.workers} workers (`--pool=prefork --concurrency=1`, `MT5_CONNECTION_POOL_SIZE={s.accounts}`), the simulator on
the {profile}: P3's login-count scale, where a switch costs far more than Celery's per-task work, as on the real
profile. Traffic: Zipf(1.1) over {s.accounts} accounts, requests arriving open-loop as a Poisson process for
{s.seconds:g} s per run (a web app does not wait for earlier answers before sending), each sent with
`AsyncMT5Client.account_info` and timed from the call to its result at the client (publish, queueing, service,
the result through the Redis backend). Capacity = what Celery's default achieves: round-robin FIFO draining a
backlog of the same traffic, **{s.capacity:.1f} requests/s**; the runs offer 50% and 90% of it.
(a) sends to the shared queue (its client reads an empty registry), `MT5_BATCH_WINDOW=1`; (b) routes by
rendezvous hashing (`MT5_ROUTING_LOAD_FACTOR=0`), window 1; (c) is (b) with `MT5_BATCH_WINDOW=50`; (d) is (c)
with bounded load, `MT5_ROUTING_LOAD_FACTOR={s.factor:g}`, `MT5_ROUTING_LOAD_FLOOR={s.floor}` ({configured}),
the workers reporting their backlog every 0.5 s and the client reading it with the membership each second.
(a) and (b) share one set of workers, (c) and (d) another; every run uses the same arrival times and accounts
for its load. The runs of one table are minutes apart on a machine shared with other work: compare within a
run, and expect a repeat to move by tens of percent.

{report.table(["load", "variant", "requests", "served req/s", "p50 ms", "p95 ms", "p99 ms", "logins / request"], rows)}

**At 90%: (d) p99 / (a) p99 = {p99_ratio:.2f}; target <= {P99_TARGET:g}: {OK[p99_ratio <= P99_TARGET]}.
(d) p50 / (a) p50 = {p50_ratio:.2f}; target <= {P50_TARGET:g}: {OK[p50_ratio <= P50_TARGET]}.**

![P5 chart]({chart.name})

Command: `{report.command("bench.p5_latency", report.argv())}`; machine: {report.machine()}.
"""
    verdicts = [
        report.Verdict("p99 at 90% load, bounded-load + batching / round-robin FIFO", f"{p99_ratio:.2f}",
                       f"<= {P99_TARGET:g}", p99_ratio <= P99_TARGET),
        report.Verdict("p50 at 90% load, bounded-load + batching / round-robin FIFO", f"{p50_ratio:.2f}",
                       f"<= {P50_TARGET:g}", p50_ratio <= P50_TARGET),
    ]  # fmt: skip
    report.update_section(docs, "P5", body, verdicts)
