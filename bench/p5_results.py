"""P5's variants, targets, set-up and runs: what the run (:mod:`bench.p5_latency`) measures and its section of
docs/performance.md (:mod:`bench.p5_report`) reads, so that neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass

from mt5_worker.settings import Settings

P99_TARGET = 1.2  # at 90% load, in every regime: the default's p99 / the best variant's p99
CAPACITY_TARGET = 1.0  # in every regime: the default's capacity / round-robin's
LOAD_FACTOR: float = Settings.model_fields["routing_load_factor"].default  # (d)'s: the defaults
LOAD_FLOOR: int = Settings.model_fields["routing_load_floor"].default
CACHE_SECONDS: float = Settings.model_fields["routing_cache_seconds"].default  # how fresh the routers' loads are
REPORT_INTERVAL: float = Settings.model_fields["load_report_interval"].default


@dataclass(frozen=True)
class Variant:
    key: str
    name: str
    window: int
    load_factor: float
    load_floor: int = LOAD_FLOOR
    routing: str = "affinity"  # MT5_ROUTING; "shared" with window 1 is round-robin FIFO


VARIANTS = (
    Variant("a", "round-robin FIFO", window=1, load_factor=0.0, routing="shared"),
    Variant("b", "affinity FIFO", window=1, load_factor=0.0),
    Variant("c", "affinity + batching", window=50, load_factor=0.0),
    Variant("d", "bounded-load + batching", window=50, load_factor=LOAD_FACTOR),
    Variant("e", "shared queue + batching", window=50, load_factor=0.0, routing="shared"),
    Variant("f", "adaptive + batching", window=50, load_factor=LOAD_FACTOR, routing="adaptive"),
)
DEFAULT = "d"  # the variant a deployment gets with every setting at its default


@dataclass(frozen=True)
class Regime:
    """A traffic shape: Zipf(``skew``) over ``accounts`` (0 = uniform)."""

    key: str
    name: str
    accounts: int
    skew: float


REGIMES = {
    r.key: r
    for r in (
        Regime("base", "200 accounts, Zipf 1.1", 200, 1.1),
        Regime("hot", "20 accounts, Zipf 1.5 (a few carry most traffic)", 20, 1.5),
        Regime("wide", "2,000 accounts, Zipf 0.3 (near-uniform)", 2000, 0.3),
    )
}


@dataclass
class Run:
    latencies: list[float]  # seconds, in send order
    logins: int
    achieved: float  # requests per second, first send to last result

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


@dataclass(frozen=True)
class Setup:
    workers: int
    scale: float
    seconds: float
    loads: tuple[float, ...]
    quick: bool
    factor: float  # (d)'s MT5_ROUTING_LOAD_FACTOR
    floor: int  # (d)'s MT5_ROUTING_LOAD_FLOOR
    adaptive_factor: float  # (f)'s
    adaptive_floor: int
    cache_seconds: float  # the clients' MT5_ROUTING_CACHE_SECONDS
    report_interval: float  # the workers' MT5_LOAD_REPORT_INTERVAL
    backlog: int  # requests per capacity measurement


@dataclass
class RegimeRuns:
    """One regime's measurements: each variant's capacity (req/s draining a backlog) and its runs by load."""

    regime: Regime
    accounts: int  # as run (--quick shrinks the regimes)
    capacity: dict[str, float]  # variant key -> req/s
    runs: dict[tuple[str, float], Run]

    def ran(self) -> list[str]:
        """The variants run, in :data:`VARIANTS`' order."""
        return [v.key for v in VARIANTS if v.key in self.capacity]

    def best(self, load: float, q: float = 99) -> str:
        return min((key for key, lo in self.runs if lo == load), key=lambda k: self.runs[k, load].pct(q))

    def p99_ratio(self, load: float = 0.9) -> float:
        """The default's p99 / the best variant's p99 at ``load``."""
        return self.runs[DEFAULT, load].pct(99) / self.runs[self.best(load), load].pct(99)

    def capacity_ratio(self) -> float:
        """The default's capacity / round-robin FIFO's."""
        return self.capacity[DEFAULT] / self.capacity["a"]
