"""Each worker's status for operators: ``mt5:workers:status``, a hash of terminal id -> JSON, one field per worker.

Written by the worker's heartbeat (every ``MT5_HEARTBEAT_INTERVAL``) from what its main process and its pool
child know: the host and backend, the terminal's last known state, the pool's size, the backlog bounded-load
routing reads, the task running now. ``mt5-worker status`` reads it with the registry; nothing here is needed to
serve requests, and a worker the registry forgets loses its field too. Never a password: the accounts it names
are the logins the worker's pool holds, as its session keys (:mod:`~mt5_worker.fleet.sessions`) name them too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import redis


def status_key(prefix: str = "mt5") -> str:
    return f"{prefix}:workers:status"


@dataclass(frozen=True)
class WorkerStatus:
    terminal_id: str
    host: str
    pid: int  # the worker's main process
    backend: str  # simulator, metatrader5 or bridge
    started_at: float
    written_at: float  # when the heartbeat's thread wrote this (about every second)
    heartbeat_at: float = 0.0  # its last heartbeat to the registry
    child_pid: int = 0  # the process that owns the terminal (0: not started yet)
    initialized: bool = False
    connected: bool = False
    terminal_at: float = 0.0  # when the child last reported its terminal (0: never)
    sessions: int = 0
    capacity: int = 0
    accounts: tuple[int, ...] = ()  # the logins its pool holds (an operator's view; never a password)
    backlog: int | None = None  # requests waiting in its own queue or reserved (None: not measured yet)
    running: str | None = None  # the task it runs now
    running_since: float = 0.0

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> WorkerStatus | None:
        """A status as :meth:`encode` wrote it; ``None`` for anything else (it is advisory)."""
        try:
            fields: dict[str, Any] = json.loads(raw)
            found = {name: fields[name] for name in cls.__dataclass_fields__ if name in fields}
            return cls(**found | {"accounts": tuple(int(login) for login in found.get("accounts", ()))})
        except (ValueError, TypeError):
            return None


def write(client: redis.Redis, status: WorkerStatus, prefix: str = "mt5") -> None:
    client.hset(status_key(prefix), status.terminal_id, status.encode())


def read_all(client: redis.Redis, prefix: str = "mt5") -> dict[str, WorkerStatus]:
    found: dict[str, WorkerStatus] = {}
    for terminal_id, raw in client.hgetall(status_key(prefix)).items():
        status = WorkerStatus.decode(raw)
        if status is not None:
            found[terminal_id.decode() if isinstance(terminal_id, bytes) else terminal_id] = status
    return found
