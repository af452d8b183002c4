"""The fleet's own costs, part 1: what routing a send costs at 10 to 10,000 registered workers, and how many
accounts move when a worker joins or leaves.

Everything runs the real code against the bench's private Redis: :class:`~mt5_worker.fleet.routing.AffinityRouter`
over a :class:`~mt5_worker.fleet.registry.WorkerRegistry` in which N members are registered with load reports, as N
workers would register themselves. The router's clock is held still while sends are timed, so its cached reading
stays the one being measured; a refresh is timed apart. "Before" is what a send cost before the ranking cache:
:func:`~mt5_worker.fleet.routing.choose_bounded` over every worker's estimate, the definition the router's answers
are tested against.
"""

from __future__ import annotations

import random
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from mt5_worker.fleet.load import LoadReport, LoadView
from mt5_worker.fleet.ranking import RankingCache
from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.routing import AffinityRouter, choose, choose_bounded, rendezvous_score
from mt5_worker.fleet.sessions import connect
from mt5_worker.settings import Settings

FACTOR: float = Settings.model_fields["routing_load_factor"].default
FLOOR: int = Settings.model_fields["routing_load_floor"].default
T0 = 1_900_000_000.0


@dataclass
class RoutingCost:
    workers: int
    send_light_us: float  # cached ranking, every backlog within the floor: no fleet total needed
    send_heavy_us: float  # every backlog past the floor: the fleet's total on every send
    send_plain_us: float  # load factor 0 (and orders): the cached first choice
    send_miss_us: float  # an account not in the cache: every worker scored once
    before_us: float  # choose_bounded over every worker's estimate: what each send cost before the cache
    refresh_ms: float  # CPU of the once-a-second reading: registry.read (one round trip) + the router's update
    refresh_redis_us: float  # Redis CPU per reading (INFO's CPU time)
    join_ms: float  # a worker joins: the cached prefixes of ``accounts`` updated
    leave_ms: float
    accounts: int  # distinct accounts in the trace (each cached)
    full_rankings: float  # share of heavy sends that looked past the cached top 8 (every worker scored)


def zipf_logins(n_accounts: int, n: int, s: float, seed: int) -> list[int]:
    """``n`` picks over logins 1..n_accounts, the k-th hottest (shuffled) with weight 1/k**s."""
    rng = random.Random(seed)
    logins = list(range(1, n_accounts + 1))
    rng.shuffle(logins)
    return rng.choices(logins, weights=[1 / k**s for k in range(1, n_accounts + 1)], k=n)


def register(r: redis.Redis, prefix: str, tids: Sequence[str], now: float, backlog: Callable[[], int]) -> None:
    """Members heartbeating and reporting their load as workers do (each its own heartbeat and report)."""
    registry = WorkerRegistry(r, ttl=3600, prefix=prefix)
    for tid in tids:
        registry.heartbeat(tid, 20, now)
        registry.report_load(tid, LoadReport(backlog(), 2.0, now))


def _per_call_us(fn: Callable[[int], object], args: Sequence[int], clock: list[float] | None = None,
                 step: float = 0.0) -> float:  # fmt: skip
    """CPU microseconds per call (this process's CPU time: other work on the machine does not count); ``clock``
    moves ``step`` seconds before each call."""
    started = time.process_time()
    for a in args:
        if clock is not None:
            clock[0] += step
        fn(a)
    return (time.process_time() - started) / len(args) * 1e6


def routing_cost(url: str, n: int, accounts: int, sends: int) -> RoutingCost:
    """Per-send costs over ``n`` registered workers, light (every backlog within the floor) then heavy (every one
    past it), on one router whose cache holds every account of the trace; then a reading, a join and a leave.
    The router's clock moves as the fleet drains: every worker reports 2 requests a second, and the clock advances
    by the time the fleet takes to serve one request per send (one client sending all the fleet's traffic), so
    the estimates change as often as they would; readings are measured apart."""
    r = connect(url, timeout=30)
    rng = random.Random(n)
    clock = [T0]
    step = 1 / (2.0 * n)
    trace = zipf_logins(accounts, sends, 0.9, seed=n)
    prefix, tids = f"cap-{n}", [f"celery@host-{i:05d}" for i in range(n)]
    register(r, prefix, tids, T0, lambda: rng.randint(0, 5))
    router = AffinityRouter(WorkerRegistry(r, prefix=prefix), 3600, lambda: clock[0], load_factor=FACTOR,
                            load_floor=FLOOR)  # fmt: skip
    distinct = list(dict.fromkeys(trace))
    miss = _per_call_us(router.queue_for, distinct[: max(20, min(2_000, 100_000 // n))])
    for login in distinct:
        router.queue_for(login)  # every account's prefix cached
    light = _per_call_us(router.queue_for, trace, clock, step)
    clock[0] = T0
    register(r, prefix, tids, T0, lambda: rng.randint(30, 70))  # the same workers, now each past the floor
    router.refresh()
    router.live()
    before = router.full_rankings
    heavy = _per_call_us(router.queue_for, trace, clock, step)
    full = (router.full_rankings - before) / len(trace)
    plain = _per_call_us(lambda login: router.queue_for(login, ordered=True), trace)
    live = router.live()
    view = LoadView()
    view.update(router.registry.read(T0).loads)
    reference = _per_call_us(lambda login: choose_bounded(login, live, view.estimates(live, T0), FACTOR, FLOOR),
                             trace[: max(10, min(len(trace), 50_000 // n))])  # fmt: skip
    reading = _reading(r, router, prefix)
    return RoutingCost(n, light, heavy, plain, miss, reference, *reading, len(distinct), full)


def _reading(r: redis.Redis, router: AffinityRouter, prefix: str) -> tuple[float, float, float, float]:
    """The reading's cost (Redis round trip, decoding, the router's update), Redis's CPU for it; then the update
    when a worker joins and when it leaves (every cached prefix visited)."""
    times = []
    cpu = _redis_cpu(r)
    for _ in range(10):
        router.refresh()
        started = time.process_time()
        router.live()
        times.append(time.process_time() - started)
    redis_us = (_redis_cpu(r) - cpu) / 10 * 1e6
    registry = WorkerRegistry(r, ttl=3600, prefix=prefix)
    changes = []
    for when in (T0, T0 - 1):  # joins (live until T0 + ttl), then leaves (its last beat expired at T0 - 1)
        if when == T0:
            registry.heartbeat("celery@joining", 20, when)
        else:
            registry.deregister("celery@joining", when)
        router.refresh()
        started = time.process_time()
        router.live()
        changes.append(time.process_time() - started)
    return statistics.median(times) * 1e3, redis_us, changes[0] * 1e3, changes[1] * 1e3


def _redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def cache_bytes_per_account(accounts: int = 20_000) -> float:
    """What the ranking cache holds per account (tracemalloc; 10 workers: a prefix is as long as at 10,000)."""
    cache = RankingCache(rendezvous_score)
    cache.update({f"celery@host-{i:05d}": 20 for i in range(10)})
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    for login in range(10_000_001, 10_000_001 + accounts):
        cache.prefix(login)
    used = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    return used / accounts


# --- moves on a join or a leave -------------------------------------------------------------------------------


@dataclass
class Moves:
    workers: int
    accounts: int
    join_moved: float  # share of accounts whose first choice moves when one worker joins (averaged over joiners)
    leave_moved_max: float  # the largest share one leaving worker held (its accounts move; the mean is 1/N)
    bounded_requests_moved: float | None  # with bounded load: share of requests sent elsewhere after a join
    bounded_spilled: float | None  # share of requests not on their account's first choice (bounded load at work)


def moves(url: str, n: int, accounts: int, joiners: int, bounded_requests: int) -> Moves:
    """First choices before and after joins (a newcomer moves an account iff it outscores its best) and leaves; then
    a traffic trace routed with bounded load over N and N + 1 workers."""
    workers = {f"celery@host-{i:05d}": 20 for i in range(n)}
    best = {}
    for login in range(1, accounts + 1):
        tid = choose(login, workers)
        assert tid is not None
        best[login] = (rendezvous_score(tid, login, 20), tid)
    moved = 0
    for j in range(joiners):
        newcomer = f"celery@joiner-{j}"
        moved += sum((rendezvous_score(newcomer, login, 20), newcomer) > key for login, key in best.items())
    held = Counter(tid for _, tid in best.values())
    bounded = _bounded_moves(url, n, bounded_requests) if bounded_requests else (None, None)
    return Moves(n, accounts, moved / joiners / accounts, max(held.values()) / accounts, *bounded)


def _bounded_moves(url: str, n: int, requests: int) -> tuple[float, float]:
    """A Zipf(0.9) trace over 20 accounts per worker, routed with the default bounded load by a router that sees
    every worker drain at the fleet's mean rate (90% utilisation), over N workers and then N + 1: the share of
    requests placed elsewhere, and the share not on their first choice (spilled)."""
    r = connect(url, timeout=30)
    trace = zipf_logins(20 * n, requests, 0.9, seed=7)
    span = 50.0  # seconds of traffic: within the routers' memory of their own sends (SEND_MEMORY)
    per_worker = requests / span / n / 0.9  # each worker's service rate: the traffic at 90% of capacity
    placements = []
    clock = [T0]
    for size in (n, n + 1):
        prefix = f"cap-moves-{n}-{size}"
        registry = WorkerRegistry(r, ttl=3600, prefix=prefix)
        for i in range(size):
            tid = f"celery@host-{i:05d}" if i < n else "celery@joiner"
            registry.heartbeat(tid, 20, T0)
            registry.report_load(tid, LoadReport(0, per_worker, T0))
        clock[0] = T0
        router = AffinityRouter(registry, 3600, lambda: clock[0], load_factor=FACTOR, load_floor=FLOOR)
        placed = []
        for k, login in enumerate(trace):
            clock[0] = T0 + span * k / len(trace)
            placed.append(router.queue_for(login))
        placements.append(placed)
    live = router.live()
    firsts = {login: f"mt5.terminal.{choose(login, live)}" for login in set(trace)}
    spilled = sum(q != firsts[login] for q, login in zip(placements[1], trace, strict=True)) / len(trace)
    moved = sum(a != b for a, b in zip(*placements, strict=True)) / len(trace)
    return moved, spilled
