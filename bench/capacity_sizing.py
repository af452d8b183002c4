"""Sizing with the calibrated model: how many terminals keep p99 under a target for N accounts and a traffic shape.

A traffic shape is a mean rate per account, a Zipf skew across accounts (the k-th busiest account's rate is
proportional to k**-skew, capped at ``cap`` requests per second, the mean kept), a share of orders, and Poisson
arrivals per account. Rendezvous hashing gives every terminal an independent, even share of the accounts, so a
fleet of W terminals is simulated by ``sample`` of them carrying ``sample / W`` of the accounts, drawn across the
ranks of busyness (stratified): the per-terminal load is the fleet's, and a 50,000-account fleet costs seconds.
The bounded-load router works over the sample's terminals. Latency counts from the send to the result at the
client, after a warm-up; the fewest terminals meeting the target are found by bisection.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from bench.capacity_model import Costs, Fleet, Result, simulate

STABLE = 0.95  # the most a sized fleet's terminals may be busy: above, a long enough run's queues keep growing


@dataclass(frozen=True)
class Shape:
    name: str
    per_minute: float  # requests per account per minute, on average
    skew: float  # Zipf exponent across accounts
    cap: float  # requests per second of the busiest account, at most
    orders: float  # share of requests that are orders (mt5.order_send)

    def rates(self, accounts: int) -> list[float]:
        """Each account's requests per second, busiest first, averaging ``per_minute / 60``."""
        weights = [k**-self.skew for k in range(1, accounts + 1)]
        target = self.per_minute / 60 * accounts
        scale = target / sum(weights)
        for _ in range(50):  # cap the head, spread what it loses over the rest
            rates = [min(self.cap, w * scale) for w in weights]
            total = sum(rates)
            if total >= target * 0.999 or all(r >= self.cap for r in rates):
                break
            scale *= target / total
        return rates


SHAPES = (
    Shape("polling: 1 req/min per account, mild skew (Zipf 0.5), reads only", 1.0, 0.5, 1.0, 0.0),
    Shape("active: 6 req/min per account, Zipf 1.1 (P3/P5's), 5% orders", 6.0, 1.1, 1.0, 0.05),
)


@dataclass(frozen=True)
class Sized:
    shape: str
    accounts: int
    target: float  # p99 seconds
    login: float
    terminals: int | None  # None: not met within the search range
    p99: float
    p50: float
    logins_per_request: float
    utilisation: float  # busy time / (terminals x time), over the sample


def traffic(shape: Shape, rates: list[float], seconds: float, seed: int) -> tuple[list[float], list[int], list[bool]]:
    """Poisson arrivals per account (login = 50,000,000 + rank), merged; each an order with ``shape.orders``."""
    rng = random.Random(seed)
    events: list[tuple[float, int]] = []
    for rank, rate in enumerate(rates):
        t = rng.expovariate(rate) if rate > 0 else seconds
        while t < seconds:
            events.append((t, 50_000_000 + rank))
            t += rng.expovariate(rate)
    events.sort()
    return [t for t, _ in events], [a for _, a in events], [rng.random() < shape.orders for _ in events]


def run_fleet(
    shape: Shape, accounts: int, terminals: int, costs: Costs, fleet: Fleet, sample: int, requests: int,
    warmup: float, seed: int = 1,
) -> tuple[Result, float, float]:  # fmt: skip
    """A sample of the fleet: ``min(sample, terminals)`` terminals with their share of the accounts, for about
    ``requests`` requests after the warm-up. Returns the result (latencies after the warm-up), the requests
    simulated and the terminals' utilisation."""
    k = min(sample, terminals)
    rates = shape.rates(accounts)
    n = max(1, round(accounts * k / terminals))
    step = len(rates) / n
    offset = random.Random(seed).random() * step
    picked = [rates[min(len(rates) - 1, int(offset + i * step))] for i in range(n)]  # across the ranks
    seconds = min(4 * 3600.0, max(60.0, requests / sum(picked)))
    arrivals, logins, orders = traffic(shape, picked, seconds + warmup, seed)
    result = simulate(replace(fleet, workers=k), costs, arrivals, logins, orders, seed)
    kept = [lat for lat, t in zip(result.latencies, arrivals, strict=True) if t >= warmup]
    busy = sum(costs.overhead + costs.call for _ in arrivals) + costs.login * result.logins
    measured = Result(kept, result.done, result.logins, result.served, result.finished, result.placed)
    return measured, len(arrivals), busy / (k * (seconds + warmup))


def size(
    shape: Shape, accounts: int, target: float, costs: Costs, fleet: Fleet, *, sample: int = 32,
    requests: int = 20_000, warmup: float = 30.0,
) -> Sized:  # fmt: skip
    """The fewest terminals whose p99 stays under ``target``: bisection between a fifth of the work's bound (every
    request a login) and one terminal per account."""
    work = accounts * shape.per_minute / 60 * (costs.login + costs.overhead + costs.call)
    lo, hi = max(1, math.floor(work * 0.2)), max(2, accounts)

    def p99(terminals: int) -> tuple[float, Result, float, float]:
        """p99 of a run; infinite for a fleet busier than ``STABLE``: its queues would grow past any finite run."""
        result, n, util = run_fleet(shape, accounts, terminals, costs, fleet, sample, requests, warmup)
        return result.pct(99) if util <= STABLE else math.inf, result, n, util

    if p99(hi)[0] >= target:
        return Sized(shape.name, accounts, target, costs.login, None, math.inf, math.inf, math.nan, math.nan)
    while hi - lo > max(1, lo // 50):  # 2% resolution
        mid = (lo + hi) // 2
        if p99(mid)[0] < target:
            hi = mid
        else:
            lo = mid
    value, result, n, util = p99(hi)
    return Sized(shape.name, accounts, target, costs.login, hi, value, result.pct(50), result.logins / max(1, n),
                 util)  # fmt: skip
