"""Session bookkeeping in Redis, per terminal (worker).

Keys, for worker id ``W``:
- ``mt5:W:sessions``: sorted set, member = login, score = last-used time (the idle sweep's range query);
- ``mt5:W:session:<login>``: hash of login, server, created, last_used, uses. Never a password;
Which workers are alive is the registry's business (``mt5_worker.fleet.registry``).

Redis is bookkeeping, not the source of truth: the worker's pool is. If Redis is unreachable, every method
logs a warning and returns an empty answer, so tasks go on serving; the caller resynchronises afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from mt5_worker.logging import get_logger
from mt5_worker.manager.snapshots import SessionInfo

# What counts as "Redis is unavailable" rather than a bug.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


def connect(url: str, timeout: float = 0.5) -> redis.Redis:
    """A client that fails fast: a task must not wait seconds for bookkeeping while Redis is down."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )  # fmt: skip


class SessionStore:
    """Last-used times and metadata of one worker's sessions."""

    def __init__(self, client: redis.Redis, worker_id: str, prefix: str = "mt5") -> None:
        self._redis = client
        self.worker_id = worker_id
        self._root = prefix
        self._prefix = f"{prefix}:{worker_id}"
        self.available = True  # False after a failed call, until one succeeds
        self._log = get_logger("mt5_worker.fleet.sessions").bind(worker_id=worker_id)

    @property
    def client(self) -> redis.Redis:
        """The Redis client (shared with the order records, :mod:`~mt5_worker.fleet.order_journal`)."""
        return self._redis

    @property
    def index_key(self) -> str:
        return index_key(self.worker_id, self._root)

    def session_key(self, login: int | str) -> str:
        return f"{self._prefix}:session:{login}"

    def record(self, sessions: Iterable[SessionInfo]) -> bool:
        """Upsert sessions' last-used time and metadata in one round trip. False if Redis is down."""
        pipe = self._redis.pipeline(transaction=False)
        for s in sessions:
            pipe.zadd(self.index_key, {str(s.login): s.last_used})
            pipe.hset(self.session_key(s.login), mapping=_metadata(s))
        return self._run(pipe, "record") is not None

    def remove(self, logins: Iterable[int | str]) -> bool:
        logins = [str(login) for login in logins]
        if not logins:
            return True
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrem(self.index_key, *logins)
        pipe.delete(*(self.session_key(login) for login in logins))
        return self._run(pipe, "remove") is not None

    def expired(self, cutoff: float) -> list[int] | None:
        """Logins last used strictly before ``cutoff``; ``None`` if Redis is down.

        A score range query: its cost grows with what expired, not with the pool.
        """
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrangebyscore(self.index_key, "-inf", f"({cutoff!r}")
        result = self._run(pipe, "expired")
        return None if result is None else [int(login) for login in result[0]]

    def sessions(self) -> list[dict[str, Any]] | None:
        """Every session this worker has in Redis, least recently used first; ``None`` if Redis is down."""
        logins = self._run(self._redis.pipeline(transaction=False).zrange(self.index_key, 0, -1), "sessions")
        if logins is None:
            return None
        pipe = self._redis.pipeline(transaction=False)
        for login in logins[0]:
            pipe.hgetall(self.session_key(login))
        rows = self._run(pipe, "sessions")
        return None if rows is None else [_typed(row) for row in rows if row]

    def reconcile(self, held: Iterable[SessionInfo]) -> list[int] | None:
        """Make Redis list exactly the ``held`` sessions: drop the others (e.g. after a restart)."""
        held = list(held)
        listed = self._run(self._redis.pipeline(transaction=False).zrange(self.index_key, 0, -1), "reconcile")
        if listed is None:
            return None
        stale = sorted({int(login) for login in listed[0]} - {s.login for s in held})
        if not (self.remove(stale) and self.record(held)):
            return None
        if stale:
            self._log.info("mt5.sessions.reconciled", dropped=stale)
        return stale

    def _run(self, pipe: Any, operation: str) -> list[Any] | None:
        try:
            result: list[Any] = pipe.execute()
        except REDIS_DOWN as exc:
            if self.available:
                self._log.warning("mt5.sessions.redis_unavailable", operation=operation, error=str(exc))
            self.available = False
            return None
        if not self.available:
            self._log.info("mt5.sessions.redis_available", operation=operation)
        self.available = True
        return result


def index_key(worker_id: str, prefix: str = "mt5") -> str:
    """The sorted set of one worker's sessions (login -> last-used time)."""
    return f"{prefix}:{worker_id}:sessions"


def _metadata(s: SessionInfo) -> dict[Any, Any]:
    return {"login": str(s.login), "server": s.server, "created": repr(s.created), "last_used": repr(s.last_used),
            "uses": str(s.uses)}  # fmt: skip


def _typed(row: dict[str, str]) -> dict[str, Any]:
    return {
        "login": int(row["login"]), "server": row["server"], "created": float(row["created"]),
        "last_used": float(row["last_used"]), "uses": int(row["uses"]),
    }  # fmt: skip
