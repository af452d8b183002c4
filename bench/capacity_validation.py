"""The capacity model checked against the real 4-worker runs (P3 and P5 of docs/performance.md).

The model replays the runs' own traffic: P3's backlog (:func:`bench.harness.zipf_trace`, seed 11) and P5's
open-loop arrivals (:func:`bench.p5_latency.arrival_times`, the seeds P5 uses) over the same 200 accounts, with the
same terminal ids (so rendezvous hashing places each account where it went in the run) and the simulator's latency
profiles. Four costs the model cannot know are calibrated on four figures, one each, in this order:

1. the worker's time per request plus the broker's hand-off (prefetch 1), on P5's measured capacity (round-robin
   FIFO draining a backlog);
2. the workers' start-up, on P3 (a)'s wall time (round-robin, 1,000 requests, login 0.5 s);
3. the split between the two (batched workers prefetch, so they pay no hand-off), on P3 (c)'s wall time;
4. the client's round trip, on P5 (a)'s median at 50% load.

Every other figure is a prediction: P3's login counts and the other wall times, P5's other percentiles and logins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bench.capacity_model import Costs, Fleet, Result, simulate
from bench.harness import accounts, zipf_trace
from bench.p5_latency import arrival_times
from mt5_worker.simulator.specs import LATENCY_PROFILES

REALISTIC = LATENCY_PROFILES["realistic"]
VARIANTS = {
    "a": ("round-robin FIFO", {"routing": "shared", "window": 1}),
    "b": ("affinity FIFO", {"routing": "affinity", "window": 1}),
    "c": ("affinity + batched", {"routing": "affinity", "window": 50}),
    "d": ("bounded-load + batched", {"routing": "bounded", "window": 50}),
}


@dataclass(frozen=True)
class Run:
    """A real run's figures, as recorded (a P5-only run has no P3 figures)."""

    name: str
    source: str
    p5_capacity: float
    p5: dict[tuple[float, str], tuple[float, float, float, float]]  # (load, variant) -> p50, p95, p99 ms, logins/req
    p3_logins: dict[str, int] = field(default_factory=dict)
    p3_wall: dict[str, float] = field(default_factory=dict)
    p3_wall_logins: dict[str, int] = field(default_factory=dict)


RECORDED = Run(
    name="recorded",
    source="docs/performance.md: P3 `.venv/bin/python -m bench.p3_routing` 2026-11-26 11:25 UTC; "
    "P5 `.venv/bin/python -m bench.p5_latency` 2026-11-26 11:54 UTC",
    p3_logins={"a": 9_325, "b": 7_915, "c": 3_377, "d": 3_778},
    p3_wall={"a": 126.4, "b": 145.1, "c": 64.5, "d": 66.6},
    p3_wall_logins={"a": 928, "b": 784, "c": 341, "d": 390},
    p5_capacity=60.9,
    p5={(0.5, "a"): (63, 114, 140, 0.93), (0.5, "b"): (79, 346, 478, 0.85), (0.5, "c"): (88, 302, 430, 0.81),
        (0.5, "d"): (71, 209, 306, 0.82), (0.9, "a"): (78, 220, 299, 0.93), (0.9, "b"): (224, 13_310, 14_366, 0.81),
        (0.9, "c"): (180, 1_092, 1_480, 0.66), (0.9, "d"): (131, 537, 658, 0.74)},
)  # fmt: skip
# A repeat of P5 for this model, on the same code, with the machine far busier (load average 10-13 on 2 cores:
# other engineers' suites): the same traffic shape at the capacity measured then.
REPEAT = Run(
    name="repeat",
    source="`.venv/bin/python -m bench.p5_latency --docs /tmp/cap_runs/p5.md` 2026-12-05 08:05-08:12 UTC, "
    "branch capacity at 2724e54",
    p5_capacity=35.4,
    p5={(0.5, "a"): (103, 324, 432, 0.93), (0.5, "b"): (114, 459, 642, 0.85), (0.5, "c"): (90, 290, 437, 0.83),
        (0.5, "d"): (85, 209, 277, 0.83), (0.9, "a"): (92, 217, 284, 0.92), (0.9, "b"): (451, 5_300, 5_490, 0.81),
        (0.9, "c"): (140, 908, 1_343, 0.75), (0.9, "d"): (150, 681, 1_006, 0.77)},
)  # fmt: skip
RUNS = (RECORDED, REPEAT)


@dataclass(frozen=True)
class Figure:
    name: str
    measured: float
    model: float
    unit: str
    calibrated: bool = False  # a figure the costs were fitted on, not a prediction

    @property
    def error(self) -> float:
        return self.model / self.measured - 1


class Replay:
    """The real runs' traffic, and the model run on it with given costs."""

    def __init__(self, quick: bool = False) -> None:
        accts = [a[0] for a in accounts(200)]
        self.logins = accts
        self.p3 = [a[0] for a in zipf_trace(accounts(200), 2_000 if quick else 10_000, 1.1, 11)]
        self.p3_wall = self.p3[:1_000]
        self.capacity_trace = [a[0] for a in zipf_trace(accounts(200), 1_500, 1.1, 6)]
        self.quick = quick

    def p5_traffic(self, load: float, capacity: float) -> tuple[list[float], list[int]]:
        seconds = 10.0 if self.quick else 40.0
        arrivals = arrival_times(load * capacity, seconds, 5 + int(load * 100))
        return arrivals, [a[0] for a in zipf_trace(accounts(200), len(arrivals), 1.1, 5 + int(load * 100))]

    @staticmethod
    def fleet(key: str) -> Fleet:
        return Fleet(4, **VARIANTS[key][1])  # type: ignore[arg-type]

    def capacity(self, costs: Costs) -> float:
        done = sorted(simulate(self.fleet("a"), costs, [0.0] * len(self.capacity_trace), self.capacity_trace).done)
        return (len(done) - 1) / (done[-1] - done[0])

    def backlog(self, key: str, costs: Costs, trace: list[int]) -> Result:
        # (d) was placed by a router counting its own sends: the workers had not started, nothing was reported
        fleet = replace(self.fleet(key), reports=False) if key == "d" else self.fleet(key)
        return simulate(fleet, costs, [0.0] * len(trace), trace)

    def open_loop(self, key: str, costs: Costs, load: float, capacity: float) -> Result:
        arrivals, trace = self.p5_traffic(load, capacity)
        return simulate(self.fleet(key), costs, arrivals, trace)


def profile_costs(scale: float, overhead: float, handoff: float, client: float = 0.0, startup: float = 0.0) -> Costs:
    return Costs(login=REALISTIC["login"] * scale, call=REALISTIC["account_info"] * scale, overhead=overhead,
                 handoff=handoff, client=client, startup=startup)  # fmt: skip


def _bisect(f: Callable[[float], float], target: float, lo: float, hi: float, steps: int = 18) -> float:
    """x in [lo, hi] where the monotonic ``f(x)`` meets ``target``."""
    rising = f(hi) > f(lo)
    for _ in range(steps):
        mid = (lo + hi) / 2
        if (f(mid) < target) == rising:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class Calibration:
    overhead: float  # s per request on the worker
    handoff: float  # s per request for a prefetch-1 worker
    client: float  # s per request at the client
    startup: float  # s from starting the workers to their first request

    def costs(self, scale: float, started: bool = False) -> Costs:
        """The costs on the realistic profile x ``scale``; ``started``: the workers are running already (P5)."""
        return profile_costs(scale, self.overhead, self.handoff, self.client, 0.0 if started else self.startup)


def calibrate(replay: Replay, run: Run = RECORDED, base: Calibration | None = None) -> Calibration:
    """The four costs, each from its figure (see the module doc). A run without P3 figures takes the start-up and
    the split between overhead and hand-off from ``base``."""
    per_request = _bisect(lambda u: replay.capacity(profile_costs(0.1, u, 0.0)), run.p5_capacity, 0.0, 0.2)
    if run.p3_wall:
        wall_a = replay.backlog("a", profile_costs(1.0, per_request, 0.0), replay.p3_wall).wall
        startup = max(0.0, run.p3_wall["a"] - wall_a)
        overhead = _bisect(lambda o: replay.backlog("c", profile_costs(1.0, o, per_request - o), replay.p3_wall).wall,
                           run.p3_wall["c"] - startup, 0.0, per_request)  # fmt: skip
    else:
        assert base is not None, "a run without P3 figures needs a base calibration"
        startup, overhead = base.startup, per_request * base.overhead / (base.overhead + base.handoff)
    handoff = per_request - overhead
    p50 = replay.open_loop("a", profile_costs(0.1, overhead, handoff), 0.5, run.p5_capacity).pct(50)
    client = max(0.0, run.p5[0.5, "a"][0] / 1e3 - p50)
    return Calibration(overhead, handoff, client, startup)


def validate(replay: Replay, cal: Calibration, run: Run = RECORDED) -> list[Figure]:
    """Every recorded figure beside the model's."""
    figures = []
    count_costs, wall_costs = replace(cal.costs(0.1), startup=0.0), cal.costs(1.0)
    for key in VARIANTS if run.p3_logins else ():
        figures.append(Figure(f"P3 ({key}) logins, 10,000 requests", run.p3_logins[key],
                              replay.backlog(key, count_costs, replay.p3).logins, "logins"))  # fmt: skip
    for key in VARIANTS if run.p3_wall else ():
        result = replay.backlog(key, wall_costs, replay.p3_wall)
        figures.append(Figure(f"P3 ({key}) wall time, 1,000 requests", run.p3_wall[key], result.wall, "s",
                              calibrated=key in "ac"))  # fmt: skip
        figures.append(Figure(f"P3 ({key}) logins in the wall run", run.p3_wall_logins[key], result.logins, "logins"))
    figures.append(Figure("P5 capacity (round-robin FIFO, backlog)", run.p5_capacity,
                          replay.capacity(cal.costs(0.1, started=True)), "req/s", calibrated=True))  # fmt: skip
    for (load, key), (p50, p95, p99, per) in run.p5.items():
        result = replay.open_loop(key, cal.costs(0.1, started=True), load, run.p5_capacity)
        where = f"P5 ({key}) at {load:.0%}"
        figures += [
            Figure(f"{where}: p50", p50, result.pct(50) * 1e3, "ms", calibrated=(load, key) == (0.5, "a")),
            Figure(f"{where}: p95", p95, result.pct(95) * 1e3, "ms"),
            Figure(f"{where}: p99", p99, result.pct(99) * 1e3, "ms"),
            Figure(f"{where}: logins per request", per, result.logins / len(result.latencies), "logins/req"),
        ]
    return figures
