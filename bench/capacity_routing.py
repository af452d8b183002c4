"""P5's three traffic regimes in the calibrated model: each routing's p99 at 90% of round-robin's capacity, and
what fresher load information does for adaptive routing (docs/capacity.md, "Routing near the shared queue").

The real P5 runs (bench/p5_latency.py) found the shared queue with batching the lowest p99 in every regime and the
default within 1.2x of it in none but the wide one; adaptive routing closed only part of the gap. The model asks
why, with everything but the routing held still: 4 terminals, P5's costs (the ``realistic`` profile x0.1 and the
service's own time as calibrated), P5's regimes, the same arrivals for every variant (three seeds, the median
taken). The adaptive variants differ only in how old the loads are that the router decides on: reported every
``report_interval`` by the workers, read every ``cache_seconds`` by the client.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

from bench.capacity_model import Costs, Fleet, simulate
from bench.harness import accounts, zipf_trace
from bench.p5_latency import arrival_times
from bench.p5_results import REGIMES

LOAD = 0.9  # of round-robin's capacity, as P5's target
ADAPTIVE = Fleet(4, routing="adaptive", load_factor=0.0, load_floor=0)
VARIANTS = {
    "(a) round-robin FIFO": Fleet(4, routing="shared", window=1),
    "(d) the defaults: bounded load + batching": Fleet(4),
    "(e) shared queue + batching": Fleet(4, routing="shared", window=50),
    "(f) adaptive, factor 0, floor 0 (loads reported every 0.5 s, read every 1 s)": ADAPTIVE,
    "(f) with loads reported and read every 0.2 s": replace(ADAPTIVE, report_interval=0.2, cache_seconds=0.2),
    "(f) with loads reported every 0.05 s, read at every send": replace(
        ADAPTIVE, report_interval=0.05, cache_seconds=0.0
    ),
}
BASELINE = "(a) round-robin FIFO"


@dataclass(frozen=True)
class RoutingFigure:
    regime: str
    variant: str
    p99: float  # seconds, the median over the seeds
    logins: float  # per request
    capacity: float  # requests per second, a backlog served


def compare(costs: Costs, quick: bool = False) -> list[RoutingFigure]:
    """Every variant in every regime at :data:`LOAD` of round-robin's capacity."""
    seeds, seconds, backlog = ((1,), 10.0, 400) if quick else ((1, 2, 3), 40.0, 1_500)
    figures = []
    for regime in REGIMES.values():
        accts = accounts(regime.accounts)
        trace = [a[0] for a in zipf_trace(accts, backlog, regime.skew, 6)]
        capacity = {name: _capacity(fleet, costs, trace) for name, fleet in VARIANTS.items()}
        p99s: dict[str, list[float]] = {name: [] for name in VARIANTS}
        logins: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for seed in seeds:
            arrivals = arrival_times(LOAD * capacity[BASELINE], seconds, 95 + seed)
            sent = [a[0] for a in zipf_trace(accts, len(arrivals), regime.skew, 95 + seed)]
            for name, fleet in VARIANTS.items():
                result = simulate(fleet, costs, arrivals, sent)
                p99s[name].append(result.pct(99))
                logins[name].append(result.logins / len(sent))
        figures += [RoutingFigure(regime.key, name, statistics.median(p99s[name]), statistics.median(logins[name]),
                                  capacity[name]) for name in VARIANTS]  # fmt: skip
    return figures


def _capacity(fleet: Fleet, costs: Costs, trace: list[int]) -> float:
    done = sorted(simulate(fleet, costs, [0.0] * len(trace), trace).done)
    return (len(done) - 1) / (done[-1] - done[0])
