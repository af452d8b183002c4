"""The workers and the trading keys as Redis knows them, in one reading: what ``mt5-worker status`` shows (with the
feeds, :mod:`mt5_worker.streams.feed_view`). Sends no task.

- workers: the registry (live or departed, capacity, backlog report) and each one's status record
  (:mod:`~mt5_worker.fleet.worker_status`: host, backend, terminal state, pool, the task it runs);
- the accounts each holds: its pool's logins, from its status, with its sessions' records
  (:mod:`~mt5_worker.fleet.sessions`);
- trading: the idempotency keys not done (:mod:`~mt5_worker.fleet.order_journal`).

Never a password: none of these keys holds one.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from mt5_worker.fleet import worker_status
from mt5_worker.fleet.order_journal import OpenKeys, OpenRecord, OrderJournal
from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.sessions import SessionStore
from mt5_worker.fleet.worker_status import WorkerStatus


@dataclass(frozen=True)
class WorkerView:
    terminal_id: str
    state: str  # live or departed
    capacity: int
    status: WorkerStatus | None  # None: a worker of a version that writes none, or not yet written
    sessions: list[dict[str, Any]]  # login, server, created, last_used, uses

    @property
    def accounts(self) -> list[dict[str, Any]]:
        """The accounts its pool holds, as the worker last reported them, with what Redis knows of each (server,
        last use); before any report, the sessions Redis lists (which keep an account evicted to make room until
        the next idle sweep)."""
        if self.status is None or not self.status.terminal_at:
            return self.sessions
        known = {row["login"]: row for row in self.sessions}
        return [known.get(login, {"login": login, "server": None, "last_used": None}) for login in self.status.accounts]

    @property
    def terminal(self) -> str:
        """The terminal's state in a word: connected, initialized, down, starting or unknown."""
        s = self.status
        if s is None:
            return "unknown"
        if not s.terminal_at:
            return "starting"
        return "connected" if s.connected else "initialized" if s.initialized else "down"


@dataclass(frozen=True)
class FleetView:
    at: float
    workers: list[WorkerView]
    open_keys: OpenKeys
    open_records: list[OpenRecord] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; ages in seconds from ``at``."""
        return {
            "at": self.at,
            "workers": [_worker_dict(w, self.at) for w in self.workers],
            "trading": {"open": asdict(self.open_keys), "keys": [asdict(r) for r in self.open_records]},
        }


def read_fleet(client: redis.Redis, *, limit: int = 50, prefix: str = "mt5", now: float | None = None) -> FleetView:
    """One reading of the fleet (a few round trips; ``limit`` bounds the trading keys listed)."""
    now = time.time() if now is None else now
    membership = WorkerRegistry(client, prefix=prefix).read(now)
    capacities = dict(membership.live)
    statuses = worker_status.read_all(client, prefix)
    ids = sorted(set(membership.live) | set(membership.departed) | set(statuses))
    workers = []
    for terminal_id in ids:
        state = "live" if terminal_id in membership.live else "departed"
        sessions = SessionStore(client, terminal_id, prefix).sessions() or []
        status = statuses.get(terminal_id)
        capacity = capacities.get(terminal_id) or (status.capacity if status else 0)
        workers.append(WorkerView(terminal_id, state, capacity, status, sessions))
    journal = OrderJournal(client, ttl=1, lease=1, prefix=prefix)  # reads only: ttl and lease are not used
    return FleetView(now, workers, journal.open_keys(), journal.open_records(limit))


def _worker_dict(w: WorkerView, now: float) -> dict[str, Any]:
    s = w.status
    found: dict[str, Any] = {"terminal_id": w.terminal_id, "state": w.state, "terminal": w.terminal,
                             "capacity": w.capacity, "sessions": len(w.accounts), "accounts": w.accounts}  # fmt: skip
    if s is not None:
        found |= {
            "host": s.host, "backend": s.backend, "pid": s.pid, "child_pid": s.child_pid,
            "initialized": s.initialized, "connected": s.connected, "backlog": s.backlog,
            "running": s.running, "running_for": round(now - s.running_since, 3) if s.running else None,
            "heartbeat_age": round(now - s.heartbeat_at, 3) if s.heartbeat_at else None,
            "status_age": round(now - s.written_at, 3),
        }  # fmt: skip
    return found
