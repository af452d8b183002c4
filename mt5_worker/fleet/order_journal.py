"""Idempotency records of orders in Redis: which key is being sent by whom, and each key's outcome.

One hash per (account, key): ``mt5:order:<login>:<sha256(key)>`` (the key is hashed so a hostile key cannot shape
Redis key names) with ``key``, ``login``, ``fingerprint`` (hash of the request), ``state`` (``pending`` or
``done``), the owner (``worker``, ``task``), ``lease_until``, ``claimed_at``, ``takeovers`` and, once done,
``outcome`` (the JSON result). Never a password. Every record expires ``MT5_TRADING_RECORD_TTL`` seconds after its
last change: the window in which a key is executed at most once.

:meth:`OrderJournal.claim` is one Lua script, so two workers handed the same key at once cannot both own it.
A pending record is taken over (to be *reconciled*, never blindly resent) by the same task redelivered, or by
anyone once the owner's lease ran out or the owner left the fleet (its heartbeat in the registry expired).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import redis

from mt5_worker.fleet.registry import workers_key

ClaimState = Literal["claimed", "reconcile", "busy", "done", "conflict"]

_CLAIM = """
local rec = KEYS[1]
local fingerprint, worker, task = ARGV[1], ARGV[2], ARGV[3]
local now, lease, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if redis.call('EXISTS', rec) == 0 then
  redis.call('HSET', rec, 'key', ARGV[7], 'login', ARGV[8], 'fingerprint', fingerprint, 'state', 'pending',
             'worker', worker, 'task', task, 'lease_until', now + lease, 'claimed_at', now, 'takeovers', 0)
  redis.call('EXPIRE', rec, ttl)
  return 'claimed'
end
local f = redis.call('HMGET', rec, 'fingerprint', 'state', 'worker', 'task', 'lease_until')
if f[1] ~= fingerprint then return 'conflict' end
if f[2] == 'done' then return 'done' end
local heartbeat = redis.call('ZSCORE', KEYS[2], f[3])
local departed = (not heartbeat) or tonumber(heartbeat) <= now
if f[4] == task or tonumber(f[5]) <= now or departed then
  redis.call('HSET', rec, 'worker', worker, 'task', task, 'lease_until', now + lease)
  redis.call('HINCRBY', rec, 'takeovers', 1)
  redis.call('EXPIRE', rec, ttl)
  return 'reconcile'
end
return 'busy'
"""

_COMPLETE = """
if redis.call('HGET', KEYS[1], 'state') == 'done' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'outcome', ARGV[1], 'done_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

_RELEASE = """
local f = redis.call('HMGET', KEYS[1], 'state', 'task')
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


class OrderJournal:
    """Claims, outcomes and reads of order records. Redis errors propagate (the caller decides: nothing is sent
    without a claim)."""

    def __init__(
        self, client: redis.Redis, *, ttl: int, lease: float, prefix: str = "mt5",
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._redis = client
        self.ttl = ttl
        self.lease = lease
        self._prefix = prefix
        self._clock = clock
        self._claim = client.register_script(_CLAIM)
        self._complete = client.register_script(_COMPLETE)
        self._release = client.register_script(_RELEASE)

    def record_key(self, login: int, key: str) -> str:
        return f"{self._prefix}:order:{login}:{hashlib.sha256(key.encode()).hexdigest()}"

    def claim(self, login: int, key: str, fingerprint: str, worker: str, task: str) -> ClaimState:
        """Take ``key`` for sending (``claimed``) or reconciling (``reconcile``); or say why not: ``busy`` (a live
        owner is on it), ``done`` (read the outcome), ``conflict`` (the key names another request)."""
        keys = [self.record_key(login, key), workers_key(self._prefix)]
        argv: list[str | float] = [fingerprint, worker, task, self._clock(), self.lease, self.ttl, key, login]
        state = _s(self._claim(keys=keys, args=argv))
        return cast(ClaimState, state)

    def complete(self, login: int, key: str, outcome: dict[str, Any]) -> bool:
        """Record the outcome (once: an outcome already recorded wins). False if one was."""
        args: list[str | float] = [json.dumps(outcome, separators=(",", ":")), self._clock(), self.ttl]
        return bool(self._complete(keys=[self.record_key(login, key)], args=args))

    def release(self, login: int, key: str, task: str) -> bool:
        """Forget a pending claim of ``task`` that sent nothing (refused before the order could leave)."""
        return bool(self._release(keys=[self.record_key(login, key)], args=[task]))

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
