"""What the manager hands out: read-only snapshots of sessions, counters and health. Never a password."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SessionInfo:
    """What callers may see of a session: never its password."""

    login: int
    server: str
    pooled: bool
    active: bool
    created: float
    last_used: float
    uses: int


@dataclass(frozen=True)
class PoolMetrics:
    """A snapshot of the manager's counters; the field names are a contract with exporters and dashboards."""

    pool_size: int
    pool_capacity: int
    active_login: int | None
    logins: int  # SDK login() calls
    switches: int  # logins back into a pooled session
    reuses: int  # requests served by the already active session, no SDK call
    idle_evictions: int
    lru_evictions: int
    retries: int
    failures_by_code: dict[int, int]
    last_failure_at: float | None
    initializations: int

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures_by_code"] = {str(k): v for k, v in self.failures_by_code.items()}  # JSON keys
        return data


@dataclass(frozen=True)
class HealthReport:
    """``busy``: another call held the terminal (e.g. a long initialize), so it was not asked this time."""

    initialized: bool
    connected: bool
    backend: str
    terminal_info: dict[str, Any] | None
    version: tuple[int, int, str] | None
    busy: bool = False


@dataclass
class Counters:
    """The manager's mutable counters; :class:`PoolMetrics` is their snapshot."""

    logins: int = 0
    switches: int = 0
    reuses: int = 0
    idle_evictions: int = 0
    lru_evictions: int = 0
    retries: int = 0
    initializations: int = 0
    failures_by_code: Counter[int] = field(default_factory=Counter)
    last_failure_at: float | None = None

    def snapshot(self, pool_size: int, pool_capacity: int, active_login: int | None) -> PoolMetrics:
        return PoolMetrics(
            pool_size=pool_size,
            pool_capacity=pool_capacity,
            active_login=active_login,
            logins=self.logins,
            switches=self.switches,
            reuses=self.reuses,
            idle_evictions=self.idle_evictions,
            lru_evictions=self.lru_evictions,
            retries=self.retries,
            failures_by_code=dict(self.failures_by_code),
            last_failure_at=self.last_failure_at,
            initializations=self.initializations,
        )
