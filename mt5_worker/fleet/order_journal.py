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

Two sorted sets index the keys not done, for operators (``mt5-worker status``, the ``mt5_trading_keys`` metrics):
``mt5:orders:pending`` (record key -> its lease's end) and ``mt5:orders:unknown`` (record key -> when its outcome
became unknown). The scripts (:mod:`~mt5_worker.fleet.journal_scripts`) keep them in step with the records; entries
of records expired since are dropped by the next claim.

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

from mt5_worker.fleet import journal_scripts as scripts

ClaimState = Literal["claimed", "reconcile", "busy", "done", "conflict"]


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


@dataclass(frozen=True)
class OpenKeys:
    """The keys not done, fleet-wide: pending under a live lease, pending past their lease (their owner died or
    is stuck: the next attempt reconciles), unknown; and how long the oldest of the last two has been so."""

    pending: int
    lease_expired: int
    unknown: int
    oldest_lease_expired_age: float | None = None  # seconds since the oldest expired lease ran out
    oldest_unknown_age: float | None = None  # seconds since the oldest unknown outcome became unknown
    at: float = 0.0  # Redis's time of the reading


@dataclass(frozen=True)
class OpenRecord:
    """One key not done, as ``mt5-worker status`` lists it (never a password: records hold none)."""

    key: str
    login: int
    state: str  # pending, lease_expired or unknown
    worker: str
    claimed_at: float
    since: float  # pending: when its lease ends; unknown: when it became unknown
    takeovers: int


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
        self._claim = client.register_script(scripts.CLAIM)
        self._confirm = client.register_script(scripts.CONFIRM)
        self._unknown = client.register_script(scripts.UNKNOWN)
        self._complete = client.register_script(scripts.COMPLETE)
        self._release = client.register_script(scripts.RELEASE)
        self._open = client.register_script(scripts.OPEN)
        self._plan = client.register_script(scripts.PLAN)
        self.pending_key = f"{prefix}:orders:pending"
        self.unknown_key = f"{prefix}:orders:unknown"

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
        keys = [self.record_key(login, key), f"{self._prefix}:", self.pending_key, self.unknown_key, self.epoch_key]
        argv: list[str | float] = [fingerprint, attempt.worker, attempt.incarnation, attempt.task, attempt.token,
                                   self.lease, self.ttl, key, login, uuid.uuid4().hex]  # fmt: skip
        state, epoch, now = (_s(v) for v in self._claim(keys=keys, args=argv))
        return Claim(cast(ClaimState, state), epoch, float(now))

    def confirm(self, login: int, key: str, attempt: Attempt) -> bool:
        """Right before the order leaves: whether ``attempt`` still owns the key (its lease renewed if so)."""
        keys = [self.record_key(login, key), self.pending_key]
        return bool(self._confirm(keys=keys, args=[attempt.token, self.lease]))

    def since_sent(self, login: int, key: str) -> float | None:
        """Seconds (Redis's clock) since an attempt last let the key's order leave; ``None`` if none ever did."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(self.record_key(login, key), "sent_at")
        pipe.time()
        sent_at, (seconds, micros) = pipe.execute()
        return None if sent_at is None else seconds + micros / 1e6 - float(sent_at)

    def unknown(self, login: int, key: str, attempt: Attempt) -> bool:
        """``attempt`` ends without knowing the outcome: the next attempt may reconcile at once."""
        keys = [self.record_key(login, key), self.pending_key, self.unknown_key]
        return bool(self._unknown(keys=keys, args=[attempt.token]))

    def complete(self, login: int, key: str, fingerprint: str, outcome: dict[str, Any]) -> bool:
        """Record the outcome (once: an outcome already recorded wins), and announce it on the account's trade
        events stream in the same step when the journal has :class:`TradeEvents`. False if one was recorded."""
        args: list[str | float] = [json.dumps(outcome, separators=(",", ":")), self.ttl, key, login, fingerprint]
        keys = [self.record_key(login, key), self.pending_key, self.unknown_key]
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
        return bool(self._release(keys=[self.record_key(login, key), self.pending_key], args=[attempt.token]))

    def open_keys(self) -> OpenKeys:
        """How many keys are not done, fleet-wide (two sorted-set reads, whatever the number of records)."""
        now, pending, expired, unknown, oldest_pending, oldest_unknown = (
            _s(v) if isinstance(v, bytes) else v for v in self._open(keys=[self.pending_key, self.unknown_key])
        )
        at = float(now)
        return OpenKeys(
            pending=int(pending) - int(expired),
            lease_expired=int(expired),
            unknown=int(unknown),
            oldest_lease_expired_age=at - float(oldest_pending) if expired else None,
            oldest_unknown_age=at - float(oldest_unknown) if oldest_unknown else None,
            at=at,
        )

    def open_records(self, limit: int = 50) -> list[OpenRecord]:
        """The keys not done, oldest first: unknown ones, then pending ones by the end of their lease."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.time()
        pipe.zrange(self.unknown_key, 0, limit - 1, withscores=True)
        pipe.zrange(self.pending_key, 0, limit - 1, withscores=True)
        (seconds, micros), unknown, pending = pipe.execute()
        now = seconds + micros / 1e6
        entries = [(_s(k), score, "unknown") for k, score in unknown]
        entries += [(_s(k), score, "lease_expired" if score <= now else "pending") for k, score in pending]
        entries = entries[:limit]
        fields = ("key", "login", "state", "worker", "claimed_at", "takeovers")
        pipe = self._redis.pipeline(transaction=False)
        for record_key, _, _ in entries:
            pipe.hmget(record_key, *fields)
        found = []
        for (_, score, state), values in zip(entries, pipe.execute(), strict=True):
            if values[2] is None:  # the record expired since it was indexed
                continue
            key, login, _, worker, claimed_at, takeovers = (_s(v) if v is not None else "" for v in values)
            found.append(OpenRecord(key, int(login or 0), state, worker, float(claimed_at or 0), float(score),
                                    int(takeovers or 0)))  # fmt: skip
        return found

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
