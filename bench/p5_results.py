"""P5's variants, targets, set-up and runs: what the run (:mod:`bench.p5_latency`) measures and its section of
docs/performance.md (:mod:`bench.p5_report`) reads, so that neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass

from mt5_worker.settings import Settings

P99_TARGET, P50_TARGET = 1.0, 0.5  # (d) / (a) at 90% load
LOAD_FACTOR: float = Settings.model_fields["routing_load_factor"].default  # (d)'s: the defaults
LOAD_FLOOR: int = Settings.model_fields["routing_load_floor"].default


@dataclass(frozen=True)
class Variant:
    key: str
    name: str
    routed: bool  # False: the shared queue (round-robin)
    window: int
    load_factor: float
    load_floor: int = LOAD_FLOOR


VARIANTS = (
    Variant("a", "round-robin FIFO", routed=False, window=1, load_factor=0.0),
    Variant("b", "affinity FIFO", routed=True, window=1, load_factor=0.0),
    Variant("c", "affinity + batching", routed=True, window=50, load_factor=0.0),
    Variant("d", "bounded-load + batching", routed=True, window=50, load_factor=LOAD_FACTOR),
)


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
    accounts: int
    workers: int
    scale: float
    seconds: float
    capacity: float
    loads: tuple[float, ...]
    quick: bool
    factor: float  # (d)'s MT5_ROUTING_LOAD_FACTOR
    floor: int  # (d)'s MT5_ROUTING_LOAD_FLOOR
