"""Idempotency records of orders in Redis: which key is being sent by whom, and each key's outcome.

One hash per (account, key): ``mt5:order:<login>:<sha256(key)>`` (the key is hashed so a hostile key cannot shape
Redis key names) with ``key``, ``login``, ``fingerprint`` (hash of the request), ``state``, the owner of the current
attempt (``worker``, ``incarnation``, ``task``, ``token``), ``lease_until``, ``claimed_at``, ``sent_at`` (when an
attempt last let the order leave), ``takeovers`` and, once done, ``outcome`` (the JSON result). Never a password.
Every record expires ``MT5_TRADING_RECORD_TTL`` seconds after its last change: the window in which a key is executed
at most once.

States: ``pending`` (an attempt holds the key, under a lease), ``unknown`` (an attempt ended without knowing whether
the order left: anyone may reconcile it now), ``done``.

A pending key is taken over, to be *reconciled* (never blindly resent), only when its owner provably cannot send any
more: its lease ran out (the lease outlasts the task's hard time limit, after which the pool has killed the process),
or a newer process of the owner's worker has announced itself (``mt5:<worker>:incarnation``: a prefork worker with
concurrency 1 forks a new child only once the old one is gone). Neither the task id (a broker may hand a copy of a
running task to another worker) nor the registry's heartbeat (a worker in warm shutdown leaves it while its last task
runs) is such a proof. Times are Redis's own (``TIME``), so the workers' clocks do not matter. Every script is
atomic: two workers handed the same key cannot both own it.

**Trade events.** With :class:`TradeEvents`, recording a key's outcome also appends it to the account's trade events
stream (``mt5:trades:<login>``, docs/streams.md) *in the same script*: an outcome is announced exactly when it is
recorded, once, whichever attempt records it; an answer read again from the record (``recorded``) announces nothing.
The stream keeps ``ttl`` seconds of events (``MINID``), and the first millisecond it surely holds goes to the streams'
horizon hash, from which readers report a gap.

**The journal's epoch.** ``mt5:journal:epoch`` names this Redis's life of records: made by the first claim that finds
it missing, so it changes when Redis loses its data (a restart without persistence, a ``FLUSHALL``, a failover that
dropped writes). A process that sees it change knows that keys it cannot find may have been sent moments ago by an
attempt whose record is gone (:class:`~mt5_worker.fleet.order_desk.OrderDesk` holds fresh sends for the settle time).

**Batches** (``mt5.close_positions``): ``mt5:batch:<login>:<sha256(key)>`` holds the positions a batch key closes,
fixed by its first attempt, so an attempt sent again closes the same positions, never ones opened since.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import redis

ClaimState = Literal["claimed", "reconcile", "busy", "done", "conflict"]

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

_CLAIM = (
    _NOW
    + """
local rec = KEYS[1]
local fingerprint, worker, incarnation, task, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local lease, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local owner = {'worker', worker, 'incarnation', incarnation, 'task', task, 'token', token, 'lease_until', now + lease}
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[10] .. ':' .. now
  redis.call('SET', KEYS[3], epoch)
end
local mine = KEYS[2] .. worker .. ':incarnation'
if redis.call('EXISTS', mine) == 0 then redis.call('SET', mine, incarnation, 'EX', ttl) end  -- lost with the data
local function answer(state) return {state, epoch, tostring(now)} end
if redis.call('EXISTS', rec) == 0 then
  redis.call('HSET', rec, 'key', ARGV[8], 'login', ARGV[9], 'fingerprint', fingerprint, 'state', 'pending',
             'claimed_at', now, 'takeovers', 0, unpack(owner))
  redis.call('EXPIRE', rec, ttl)
  return answer('claimed')
end
local f = redis.call('HMGET', rec, 'fingerprint', 'state', 'worker', 'incarnation', 'lease_until')
if f[1] ~= fingerprint then return answer('conflict') end
if f[2] == 'done' then return answer('done') end
local current = redis.call('GET', KEYS[2] .. f[3] .. ':incarnation')
local replaced = current and current ~= f[4]
if f[2] == 'unknown' or tonumber(f[5]) <= now or replaced then
  redis.call('HSET', rec, 'state', 'pending', unpack(owner))
  redis.call('HINCRBY', rec, 'takeovers', 1)
  redis.call('EXPIRE', rec, ttl)
  return answer('reconcile')
end
return answer('busy')
"""
)

_CONFIRM = (
    _NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'state', 'token')
if f[1] ~= 'pending' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease_until', now + tonumber(ARGV[2]), 'sent_at', now)
return 1
"""
)

_UNKNOWN = """
local f = redis.call('HMGET', KEYS[1], 'state', 'token')
if f[1] ~= 'pending' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'unknown')
return 1
"""

_COMPLETE = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'state') == 'done' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'outcome', ARGV[1], 'done_at', now, 'key', ARGV[3], 'login', ARGV[4],
           'fingerprint', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if #KEYS == 3 then  -- announce it: one event per recorded outcome, in the same step
  local ms = math.floor(now * 1000)
  local horizon = string.format('%.0f', math.max(ms - tonumber(ARGV[2]) * 1000, 0))
  redis.call('XADD', KEYS[2], 'MINID', '~', horizon, '*', 'time_msc', string.format('%.0f', ms), unpack(ARGV, 6))
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  redis.call('HSET', KEYS[3], KEYS[2], horizon)
end
return 1
"""
)

_PLAN = (
    _NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'fingerprint', 'positions')
if f[1] then
  if f[1] ~= ARGV[1] then return {'conflict', ''} end
  return {'planned', f[2]}
end
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'positions', ARGV[2], 'key', ARGV[4], 'login', ARGV[5],
           'planned_at', now)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {'planned', ARGV[2]}
"""
)

_RELEASE = """
local f = redis.call('HMGET', KEYS[1], 'state', 'token')
if f[1] == 'pending' and f[2] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class OrderRecord:
    """One key's record as stored (``outcome`` decoded)."""

    key: str
    login: int
    fingerprint: str
    state: str
    worker: str
    task: str
    claimed_at: float
    lease_until: float
    takeovers: int
    outcome: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """What ``mt5.order_result`` answers (the owner's task id is the Celery request id: not a secret)."""
        return {
            "idempotency_key": self.key,
            "login": self.login,
            "state": self.state,
            "claimed_at": self.claimed_at,
            "owner": {"worker": self.worker, "task": self.task},
            "takeovers": self.takeovers,
            "result": self.outcome,
        }


@dataclass(frozen=True)
class Claim:
    """What a claim found: its state, the journal's epoch (see the module doc) and Redis's clock then."""

    state: ClaimState
    epoch: str
    now: float

    @property
    def epoch_age(self) -> float:
        """Seconds since the journal's epoch began (since Redis last lost its records, or first held any)."""
        born = self.epoch.rpartition(":")[2]
        return max(0.0, self.now - float(born)) if born else 0.0


@dataclass(frozen=True)
class TradeEvents:
    """Where recorded outcomes are announced: the account's trade events stream, the streams' horizon hash, and an
    outcome's entry fields. The names and the fields are the streams' (:mod:`mt5_worker.streams`): the worker, which
    knows both layers, hands them in."""

    stream_key: Callable[[int], str]
    horizon_key: str
    fields: Callable[[Mapping[str, Any]], Mapping[str, str]]


@dataclass(frozen=True)
class Attempt:
    """Who is trying: the worker (terminal id), its process's incarnation, the Celery task, and a token unique to
    this attempt (what every later step of the attempt proves its ownership with)."""

    worker: str
    incarnation: str
    task: str
    token: str


class OrderJournal:
    """Claims, outcomes and reads of order records. Redis errors propagate (the caller decides: nothing is sent
    without a claim)."""

    def __init__(
        self, client: redis.Redis, *, ttl: int, lease: float, prefix: str = "mt5", events: TradeEvents | None = None
    ) -> None:
        self._redis = client
        self.ttl = ttl
        self.lease = lease
        self.events = events
        self._prefix = prefix
        self._claim = client.register_script(_CLAIM)
        self._confirm = client.register_script(_CONFIRM)
        self._unknown = client.register_script(_UNKNOWN)
        self._complete = client.register_script(_COMPLETE)
        self._release = client.register_script(_RELEASE)
        self._plan = client.register_script(_PLAN)

    def record_key(self, login: int, key: str) -> str:
        return f"{self._prefix}:order:{login}:{hashlib.sha256(key.encode()).hexdigest()}"

    def batch_key(self, login: int, key: str) -> str:
        return f"{self._prefix}:batch:{login}:{hashlib.sha256(key.encode()).hexdigest()}"

    @property
    def epoch_key(self) -> str:
        return f"{self._prefix}:journal:epoch"

    def incarnation_key(self, worker: str) -> str:
        return f"{self._prefix}:{worker}:incarnation"

    def announce(self, worker: str, incarnation: str) -> None:
        """This process is now ``worker``'s only one: pending claims of its earlier processes may be reconciled."""
        self._redis.set(self.incarnation_key(worker), incarnation, ex=self.ttl)

    def claim(self, login: int, key: str, fingerprint: str, attempt: Attempt) -> ClaimState:
        """Take ``key`` for sending (``claimed``) or reconciling (``reconcile``); or say why not: ``busy`` (an owner
        that may still send holds it), ``done`` (read the outcome), ``conflict`` (the key names another request)."""
        return self.claim_in_epoch(login, key, fingerprint, attempt).state

    def claim_in_epoch(self, login: int, key: str, fingerprint: str, attempt: Attempt) -> Claim:
        """:meth:`claim`, with the journal's epoch it happened in."""
        keys = [self.record_key(login, key), f"{self._prefix}:", self.epoch_key]
        argv: list[str | float] = [fingerprint, attempt.worker, attempt.incarnation, attempt.task, attempt.token,
                                   self.lease, self.ttl, key, login, uuid.uuid4().hex]  # fmt: skip
        state, epoch, now = (_s(v) for v in self._claim(keys=keys, args=argv))
        return Claim(cast(ClaimState, state), epoch, float(now))

    def confirm(self, login: int, key: str, attempt: Attempt) -> bool:
        """Right before the order leaves: whether ``attempt`` still owns the key (its lease renewed if so)."""
        return bool(self._confirm(keys=[self.record_key(login, key)], args=[attempt.token, self.lease]))

    def since_sent(self, login: int, key: str) -> float | None:
        """Seconds (Redis's clock) since an attempt last let the key's order leave; ``None`` if none ever did."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(self.record_key(login, key), "sent_at")
        pipe.time()
        sent_at, (seconds, micros) = pipe.execute()
        return None if sent_at is None else seconds + micros / 1e6 - float(sent_at)

    def unknown(self, login: int, key: str, attempt: Attempt) -> bool:
        """``attempt`` ends without knowing the outcome: the next attempt may reconcile at once."""
        return bool(self._unknown(keys=[self.record_key(login, key)], args=[attempt.token]))

    def complete(self, login: int, key: str, fingerprint: str, outcome: dict[str, Any]) -> bool:
        """Record the outcome (once: an outcome already recorded wins), and announce it on the account's trade
        events stream in the same step when the journal has :class:`TradeEvents`. False if one was recorded."""
        args: list[str | float] = [json.dumps(outcome, separators=(",", ":")), self.ttl, key, login, fingerprint]
        keys = [self.record_key(login, key)]
        if self.events is not None:
            keys += [self.events.stream_key(login), self.events.horizon_key]
            args += [item for pair in self.events.fields(outcome).items() for item in pair]
        return bool(self._complete(keys=keys, args=args))

    def planned(self, login: int, key: str) -> tuple[str, list[int]] | None:
        """A batch key's plan: its fingerprint and the positions it closes; ``None`` if it has none yet."""
        fingerprint, positions = self._redis.hmget(self.batch_key(login, key), ["fingerprint", "positions"])
        if fingerprint is None or positions is None:
            return None
        return _s(fingerprint), [int(t) for t in json.loads(_s(positions))]

    def plan(self, login: int, key: str, fingerprint: str, positions: list[int]) -> list[int] | None:
        """Fix the positions a batch key closes; the plan already fixed (by an earlier attempt) wins. ``None``:
        the key names another batch (its fingerprint differs)."""
        args: list[str | float] = [fingerprint, json.dumps(positions), self.ttl, key, login]
        state, found = (_s(v) for v in self._plan(keys=[self.batch_key(login, key)], args=args))
        return None if state == "conflict" else [int(t) for t in json.loads(found)]

    def release(self, login: int, key: str, attempt: Attempt) -> bool:
        """Forget ``attempt``'s pending claim: nothing was sent (refused before the order could leave)."""
        return bool(self._release(keys=[self.record_key(login, key)], args=[attempt.token]))

    def read(self, login: int, key: str) -> OrderRecord | None:
        raw = self._redis.hgetall(self.record_key(login, key))
        if not raw:
            return None
        f = {_s(k): _s(v) for k, v in raw.items()}
        return OrderRecord(
            key=f.get("key", key),
            login=int(f.get("login", login)),
            fingerprint=f.get("fingerprint", ""),
            state=f.get("state", "pending"),
            worker=f.get("worker", ""),
            task=f.get("task", ""),
            claimed_at=float(f.get("claimed_at", 0.0)),
            lease_until=float(f.get("lease_until", 0.0)),
            takeovers=int(f.get("takeovers", 0)),
            outcome=json.loads(f["outcome"]) if "outcome" in f else None,
        )


def _s(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
