"""The fleet's membership in Redis: which workers (terminals) are alive, and how many sessions each holds.

Keys:
- ``mt5:workers``: sorted set, member = terminal id, score = when its last heartbeat expires (unix time:
  heartbeat time + the worker's own TTL, so each worker's interval governs). A worker is *live* until then;
  later it is *departed*: its queue may still hold messages, until a reaper has emptied it and forgets it.
- ``mt5:workers:capacity``: hash, terminal id -> pool capacity (rendezvous weight).
- ``mt5:workers:load``: hash, terminal id -> its last :class:`~mt5_worker.fleet.load.LoadReport` (backlog, rate,
  time), written every ``MT5_LOAD_REPORT_INTERVAL`` for bounded-load routing.
- ``mt5:workers:status``: hash, terminal id -> its status for operators (:mod:`~mt5_worker.fleet.worker_status`),
  forgotten with the worker.

Routing reads all three in one round trip; a reading keeps the load reports of live workers only, so a stale
report of a departed worker never draws traffic to it. Membership is advisory: a worker that misses heartbeats
only stops receiving new accounts; nothing is lost, because its queue is drained to the survivors (see ``reaper``).

A heartbeat learns in the same round trip which members have departed (a score range on ``mt5:workers``, so its
cost does not grow with the fleet); only then does the worker read the live ids, to elect each departed worker's
:func:`reapers` (a few survivors every worker agrees on, rather than all), and only a reaper reads the whole
membership, to move what the departed queue holds.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

from mt5_worker.fleet.load import LoadReport
from mt5_worker.fleet.worker_status import status_key
from mt5_worker.logging import get_logger

log = get_logger("mt5_worker.fleet.registry")

REAPERS = 2  # survivors that adopt each departed worker's queue: more than one, in case one of them is gone too


def workers_key(prefix: str = "mt5") -> str:
    return f"{prefix}:workers"


def capacity_key(prefix: str = "mt5") -> str:
    return f"{prefix}:workers:capacity"


def load_key(prefix: str = "mt5") -> str:
    return f"{prefix}:workers:load"


@dataclass(frozen=True)
class Membership:
    """One reading of the registry: live workers with their capacity, and departed ones."""

    live: dict[str, int]
    departed: dict[str, float]  # terminal id -> when it departed (its last heartbeat expired)
    loads: dict[str, LoadReport] = field(default_factory=dict)  # live workers' last load reports


@dataclass(frozen=True)
class Beat:
    """What a heartbeat learns: how many members are live, and the departed ones (terminal id -> when)."""

    live: int
    departed: dict[str, float]


class WorkerRegistry:
    """Heartbeats and membership reads. Every method is one pipelined round trip; Redis errors propagate."""

    def __init__(self, client: redis.Redis, ttl: float = 30.0, prefix: str = "mt5") -> None:
        self._redis = client
        self.ttl = ttl  # of this process's own heartbeats
        self._workers = workers_key(prefix)
        self._capacity = capacity_key(prefix)
        self._load = load_key(prefix)
        self._prefix = prefix

    def heartbeat(self, terminal_id: str, capacity: int, now: float) -> Beat:
        """Announce ``terminal_id`` as live until ``now`` + ttl; returns how many members are live and which have
        departed, read in the same round trip (a count and a score range: no cost per live member)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(self._workers, {terminal_id: now + self.ttl})
        pipe.hset(self._capacity, terminal_id, capacity)
        pipe.zcount(self._workers, f"({now!r}", "+inf")
        pipe.zrangebyscore(self._workers, "-inf", now, withscores=True)
        _, _, live, departed = pipe.execute()
        return Beat(int(live), {_s(w): float(expired) for w, expired in departed})

    def report_load(self, terminal_id: str, report: LoadReport) -> None:
        self._redis.hset(self._load, terminal_id, report.encode())

    def live_ids(self, now: float) -> list[str]:
        """The live members' ids only (no capacities, no load reports): what electing reapers needs."""
        members = self._redis.zrangebyscore(self._workers, f"({now!r}", "+inf")  # without scores: ids only
        return [_s(w) for w in members if isinstance(w, str | bytes)]

    def deregister(self, terminal_id: str, now: float) -> None:
        """Leave at once (a clean shutdown): expire the heartbeat now rather than delete it, so a reaper still
        drains whatever the worker's queue holds (e.g. messages restored at shutdown)."""
        self._redis.zadd(self._workers, {terminal_id: now})

    def forget(self, terminal_id: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrem(self._workers, terminal_id)
        pipe.hdel(self._capacity, terminal_id)
        pipe.hdel(self._load, terminal_id)
        pipe.hdel(status_key(self._prefix), terminal_id)
        pipe.execute()

    def read(self, now: float) -> Membership:
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrange(self._workers, 0, -1, withscores=True)
        pipe.hgetall(self._capacity)
        pipe.hgetall(self._load)
        members, capacities, reports = pipe.execute()
        live = {_s(w): _capacity(capacities.get(w)) for w, expires in members if expires > now}
        departed = {_s(w): float(expires) for w, expires in members if expires <= now}
        loads = {_s(w): r for w, raw in reports.items() if _s(w) in live and (r := LoadReport.decode(raw))}
        return Membership(live, departed, loads)


def reapers(departed: Iterable[str], live: Iterable[str], count: int = REAPERS) -> dict[str, list[str]]:
    """The live workers that adopt each departed worker's queue: the ``count`` first clockwise from its point on a
    hash ring of the live workers. Every worker computes the same answer from the same membership; the departed
    queues spread over the fleet; and the cost is one hash per live worker plus a lookup per departed one, so a
    beat after a rolling deploy (as many departed as live) stays cheap."""
    ring = sorted((_point(terminal_id), terminal_id) for terminal_id in set(live))
    points = [point for point, _ in ring]
    size = min(count, len(ring))
    elected = {}
    for terminal_id in departed:
        first = bisect.bisect(points, _point(terminal_id))
        elected[terminal_id] = [ring[(first + k) % len(ring)][1] for k in range(size)]
    return elected


def _point(terminal_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(terminal_id.encode(), digest_size=8).digest(), "big")


def _s(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _capacity(raw: str | bytes | None) -> int:
    try:
        return max(1, int(raw)) if raw is not None else 1
    except ValueError:
        return 1
