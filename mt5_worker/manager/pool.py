"""Account sessions and the LRU pool that holds them (worker memory only).

A session is an account the terminal has authorised and may switch back to with one ``login()``. Its
password lives here, as a ``SecretStr``, and nowhere else: not in Redis, logs or task results.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import SecretStr


@dataclass
class Session:
    login: int
    server: str
    password: SecretStr = field(repr=False)
    created: float
    last_used: float
    uses: int = 0

    def is_idle(self, now: float, timeout: float) -> bool:
        """Idle *longer* than ``timeout``: exactly at the boundary the session is kept."""
        return now - self.last_used > timeout

    def accepts(self, password: SecretStr | None, server: str | None) -> bool:
        """Whether a request can be served by this session without proving its credentials again."""
        same_server = server is None or server == self.server
        same_password = password is None or password.get_secret_value() == self.password.get_secret_value()
        return same_server and same_password


class SessionPool:
    """At most ``capacity`` sessions, least recently used first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._sessions: OrderedDict[int, Session] = OrderedDict()

    def get(self, login: int) -> Session | None:
        return self._sessions.get(login)

    def touch(self, session: Session, now: float) -> None:
        session.last_used = now
        session.uses += 1
        self._sessions.move_to_end(session.login)

    def used_until(self, session: Session, now: float) -> None:
        """``session``'s use has just ended: it is idle from ``now``, not from when the use began (a slow call
        must not leave its session looking idle for the call's length)."""
        session.last_used = max(session.last_used, now)

    def add(self, session: Session) -> Session | None:
        """Insert as most recently used; return the least recently used session evicted to make room."""
        evicted = None
        if session.login not in self._sessions and len(self._sessions) >= self.capacity:
            _, evicted = self._sessions.popitem(last=False)
        self._sessions[session.login] = session
        return evicted

    def remove(self, login: int) -> Session | None:
        return self._sessions.pop(login, None)

    def idle(self, now: float, timeout: float) -> list[Session]:
        return [s for s in self._sessions.values() if s.is_idle(now, timeout)]

    def clear(self) -> None:
        self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def __contains__(self, login: object) -> bool:
        return login in self._sessions
