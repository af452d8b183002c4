"""P5's section of docs/performance.md and its chart, from :mod:`bench.p5_latency`'s runs."""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.p5_results import CAPACITY_TARGET, DEFAULT, LOAD_FACTOR, LOAD_FLOOR, P99_TARGET, VARIANTS, RegimeRuns, Setup

OK = {True: "met", False: "NOT met"}
NAMES = {v.key: f"({v.key}) {v.name}" for v in VARIANTS}


def write_docs(docs: Path, s: Setup, results: list[RegimeRuns]) -> None:
    chart = docs.parent / "p5_latency.png"
    top = max(s.loads)
    report.bar_chart(
        chart, f"P5: open-loop latency at {top:.0%} of round-robin's capacity, {s.workers} workers",
        *(report.Panel(f"{rr.regime.name} ({rr.accounts} accounts)", [NAMES[k] for k in rr.ran()],
                       {f"p{q}": [rr.runs[k, top].pct(q) * 1e3 for k in rr.ran()] for q in (50, 95, 99)},
                       "ms, sent -> result at the client", log=True) for rr in results),
    )  # fmt: skip
    profile = (f"`realistic` profile x{s.scale:g} (initialize {2 * s.scale:g} s, login {500 * s.scale:g} ms, other "
               f"calls {2 * s.scale:g} ms)")  # fmt: skip
    bounded, adaptive = _bound(s.factor, s.floor), _bound(s.adaptive_factor, s.adaptive_floor)
    tables = "\n".join(_regime_table(rr, s) for rr in results)
    worst_p99 = max(results, key=lambda rr: rr.p99_ratio(top))
    worst_cap = min(results, key=lambda rr: rr.capacity_ratio())
    p99, cap = worst_p99.p99_ratio(top), worst_cap.capacity_ratio()
    summary = report.table(
        ["regime", "capacity req/s: (a) / default", "default / (a) capacity", f"best p99 at {top:.0%}",
         "default p99 / best p99"],
        [(rr.regime.key, f"{rr.capacity['a']:.0f} / {rr.capacity[DEFAULT]:.0f}", f"{rr.capacity_ratio():.2f}",
          NAMES[rr.best(top)], f"{rr.p99_ratio(top):.2f}") for rr in results],
    )  # fmt: skip
    body = f"""\
## P5: latency under open-loop traffic, {len(NAMES)} ways of serving it, three kinds of traffic

{s.workers} workers (`--pool=prefork --concurrency=1`, every account pooled in every worker up to the pool's
limit of 1,000: in the wide regime a worker that sees every account also pays for evictions), the simulator on
the {profile}: P3's login-count scale, where a switch costs far more than Celery's per-task work, as on the real
profile. Requests arrive open-loop as a Poisson process for {s.seconds:g} s per run (a web app does not wait for
earlier answers before sending), each sent with `AsyncMT5Client.account_info` and timed from the call to its
result at the client (publish, queueing, service, the result through the Redis backend).

Variants: (a) round-robin FIFO, every request to the shared queue (`MT5_ROUTING=shared`),
`MT5_BATCH_WINDOW=1`; (b) affinity FIFO, rendezvous hashing (`MT5_ROUTING_LOAD_FACTOR=0`), window 1; (c) (b) with
`MT5_BATCH_WINDOW=50`; (d) bounded load + batching ({bounded}), the workers reporting their backlog every
{s.report_interval:g} s, each client reading the reports every {s.cache_seconds:g} s; (e) the shared queue with
batching: every worker takes from one queue and groups what it reserved by account (`MT5_ROUTING=shared`,
`MT5_BATCH_WINDOW=50`); (f) adaptive + batching: the account's terminal while
its backlog is within the bound, the shared queue past it (`MT5_ROUTING=adaptive`, {adaptive}). **The default
configuration is {NAMES[DEFAULT]}.** Capacity:
{s.backlog:,} requests of the regime's traffic sent at once by the variant's client, completions over their
span (after a first pass that warms the sessions). The open-loop runs offer 50% and 90% of round-robin's
capacity. (a) and (b) share one set of workers, (c)-(f) another; every run of a load uses the same arrival
times and accounts. The runs are minutes apart on a machine shared with other work: compare within a table,
and expect a repeat to move by tens of percent.

{summary}

**Worst regime at {top:.0%}: default p99 / best p99 = {p99:.2f} ({worst_p99.regime.key}); target <= {P99_TARGET:g}:
{OK[p99 <= P99_TARGET]}. Default capacity / round-robin's = {cap:.2f} ({worst_cap.regime.key}); target >=
{CAPACITY_TARGET:g}: {OK[cap >= CAPACITY_TARGET]}.**

{tables}

![P5 chart]({chart.name})

Command: `{report.command("bench.p5_latency", report.argv())}`; machine: {report.machine()}.
"""
    verdicts = [
        report.Verdict(f"p99 at 90% load, default / best variant (worst regime: {worst_p99.regime.key})",
                       f"{p99:.2f}", f"<= {P99_TARGET:g}", p99 <= P99_TARGET),
        report.Verdict(f"capacity, default / round-robin (worst regime: {worst_cap.regime.key})", f"{cap:.2f}",
                       f">= {CAPACITY_TARGET:g}", cap >= CAPACITY_TARGET),
    ]  # fmt: skip
    report.update_section(docs, "P5", body, verdicts)


def _bound(factor: float, floor: int) -> str:
    """A bounded variant's settings as run."""
    if (factor, floor) == (LOAD_FACTOR, LOAD_FLOOR):
        return f"the default bound: `MT5_ROUTING_LOAD_FACTOR={factor:g}`, `MT5_ROUTING_LOAD_FLOOR={floor}`"
    return (f"`MT5_ROUTING_LOAD_FACTOR={factor:g}`, `MT5_ROUTING_LOAD_FLOOR={floor}`; the defaults are {LOAD_FACTOR:g} "
            f"and {LOAD_FLOOR}")  # fmt: skip


def _regime_table(rr: RegimeRuns, s: Setup) -> str:
    rows = [
        (f"{load:.0%}", NAMES[k], f"{rr.capacity[k]:.0f}", f"{len(r.latencies):,}", f"{r.achieved:.1f}",
         f"{r.pct(50) * 1e3:.0f}", f"{r.pct(95) * 1e3:.0f}", f"{r.pct(99) * 1e3:.0f}",
         f"{r.logins / len(r.latencies):.2f}")
        for load in s.loads for k in rr.ran() for r in [rr.runs[k, load]]
    ]  # fmt: skip
    head = ["load", "variant", "capacity req/s", "requests", "served req/s", "p50 ms", "p95 ms", "p99 ms",
            "logins / request"]  # fmt: skip
    return f"**{rr.regime.key}: {rr.regime.name}** ({rr.accounts} accounts as run)\n\n{report.table(head, rows)}\n"
