"""``MT5ConnectionManager``: one terminal per process, a pool of account sessions, one fair lock.

The manager's mutable state is the terminal's lifecycle state plus two things about accounts: ``_pool``
(the sessions this worker can switch to, LRU order) and ``_active`` (the login the terminal has active, as
far as we know; ``None`` when unknown). Both change only under ``_lock``, and every SDK call goes through
``_sdk``, which logs it, records failures and keeps ``_connected`` (the trade server connection the last
telling call reported), so observers read the terminal's state without calling it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from mt5_worker.backends import create_terminal
from mt5_worker.codes import IPC_CODES, RES_E_FAIL, SUCCESS, is_transient
from mt5_worker.errors import AccountMismatchError, InvalidRequestError, error_from_last_error
from mt5_worker.logging import get_logger
from mt5_worker.manager.lock import FairLock
from mt5_worker.manager.pool import Session, SessionPool
from mt5_worker.manager.retry import RetryPolicy
from mt5_worker.manager.snapshots import Counters, HealthReport, PoolMetrics, SessionInfo
from mt5_worker.manager.validation import AccountRequest
from mt5_worker.settings import Settings
from mt5_worker.terminal import Terminal
from mt5_worker.terminal.port import AccountInfo, TerminalInfo

CallHook = Callable[[str, float, bool, int], None]  # (function, seconds, ok, mt5_code)


class TerminalState(enum.Enum):
    CLOSED = "closed"  # never initialized, or shut down
    READY = "ready"  # initialized: calls go through
    LOST = "lost"  # an IPC failure: initialize again before the next call


class MT5ConnectionManager:
    """Owns one terminal: initializes it once, pools account sessions, serialises every call.

    Thread-safe: all terminal I/O runs under one FIFO lock. ``clock`` and ``sleep`` are injectable so tests
    never wait for real.
    """

    def __init__(
        self,
        terminal: Terminal,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        routine: frozenset[str] = frozenset(),
    ) -> None:
        self._terminal = terminal
        # Functions called many times a second (a feed's polls): their successful calls log at debug level, so the
        # log keeps every failure and every other call without drowning in polls.
        self._routine = routine
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self.retry_policy = RetryPolicy.from_settings(self._settings)
        self.backend: str = getattr(terminal, "backend", type(terminal).__name__)
        self._lock = FairLock()
        self._state = TerminalState.CLOSED
        self._pool = SessionPool(self._settings.pool_size)
        self._active: int | None = None
        self._connected = False  # trade server connection, as the last call that tells said (see _sdk)
        self._last_error: tuple[int, str] = SUCCESS
        self._counters = Counters()
        self._log = get_logger("mt5_worker.manager").bind(backend=self.backend)
        # Observers of SDK calls (metrics, tracing, tests), each called after every call with
        # (function, seconds, ok, mt5_code) while the lock is held: keep them quick. Append to add one.
        self.call_hooks: list[CallHook] = []

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> MT5ConnectionManager:
        """A manager over the adapter ``MT5_BACKEND`` names."""
        return cls(create_terminal(settings), settings, **kwargs)

    @property
    def terminal(self) -> Terminal:
        return self._terminal

    @property
    def state(self) -> TerminalState:
        return self._state

    @property
    def last_known_connected(self) -> bool:
        """Initialized, and connected to a trade server as far as the last SDK call that tells knows: a
        ``login()`` or ``terminal_info()`` (``health()``, ``is_connected()``). Makes no call, takes no lock."""
        return self._state is TerminalState.READY and self._connected

    @property
    def busy(self) -> bool:
        """A call holds the terminal right now. Does not wait for it."""
        return self._lock.locked()

    # --- lifecycle --------------------------------------------------------------------------------

    def initialize(self) -> None:
        """Initialize the terminal unless it is up, retrying transient failures with backoff.

        Raises the typed error of the last attempt (code, message, attempt count) when all fail.
        """
        with self._lock:
            self._initialize_locked(self.retry_policy)

    def shutdown(self) -> None:
        """Close the terminal connection and forget every session. ``initialize()`` may follow."""
        with self._lock:
            if self._state is not TerminalState.CLOSED:
                self._sdk("shutdown")
            self._state = TerminalState.CLOSED
            self._pool.clear()
            self._active = None

    def is_connected(self) -> bool:
        """Initialized, and the terminal reports a connection to its trade server."""
        with self._lock:
            if self._state is not TerminalState.READY:
                return False
            info = self._sdk("terminal_info")
            return info is not None and bool(info.connected)

    def health(self, wait: float = 1.0) -> HealthReport:
        """State of the terminal, without starting it, and without queueing more than ``wait`` seconds
        behind a long call (a probe must answer while ``initialize()`` runs for a minute)."""
        if not self._lock.acquire(timeout=wait):
            return HealthReport(self._state is TerminalState.READY, False, self.backend, None, None, busy=True)
        try:
            if self._state is not TerminalState.READY:
                return HealthReport(False, False, self.backend, None, None)
            info: TerminalInfo | None = self._sdk("terminal_info")
            connected, terminal_info = (False, None) if info is None else (bool(info.connected), info._asdict())
            return HealthReport(True, connected, self.backend, terminal_info, version=self._sdk("version"))
        finally:
            self._lock.release()

    # --- accounts ---------------------------------------------------------------------------------

    def login(self, login: Any, password: Any = None, server: Any = None, *, attempt: int = 1) -> SessionInfo:
        """Make ``login`` the terminal's active account: at most one SDK ``login()`` call, never retried here.

        ``attempt`` (1 for a first try) is logged, and counted as a retry when > 1: callers that retry
        (Celery's autoretry) pass their attempt number.
        """
        request = AccountRequest.parse(login, password, server)
        with self._lock:
            session = self._login_locked(request, attempt)
            self._pool.used_until(session, self._clock())
            return self._info(session)

    def get_account_info(
        self, login: Any, password: Any = None, server: Any = None, *, attempt: int = 1
    ) -> AccountInfo:
        """``account_info()`` of ``login``, which becomes the active account. Never another account's data."""
        request = AccountRequest.parse(login, password, server)
        with self._lock:
            info: AccountInfo = self._run_locked(request, "account_info", (), {}, attempt)
            if info.login != request.login:
                self._active = None  # someone switched the terminal behind our back; log in again next time
                raise AccountMismatchError(
                    f"asked for account {request.login}, the terminal answered for {info.login}", RES_E_FAIL, attempt
                )
            return info

    def run(
        self, login: Any, function: str, *args: Any, password: Any = None, server: Any = None, attempt: int = 1,
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        """Port ``function(*args, **kwargs)`` with ``login`` the active account: the one account-bound way to
        read the terminal. Its failure (``None``/``False``) raises the typed error from ``last_error()``; an
        empty answer (``()``, ``0``) is an answer. Arguments must already be valid (see ``market_requests``)."""
        request = AccountRequest.parse(login, password, server)
        with self._lock:
            return self._run_locked(request, function, args, kwargs, attempt)

    def evict_idle(self, now: float | None = None, logins: Iterable[int] | None = None) -> list[int]:
        """Log out sessions idle longer than the idle timeout (of ``logins`` only, if given).

        The terminal stays initialized. The SDK has no logout: an evicted session stops being pooled and
        active, and its next use logs in again with a password.
        """
        with self._lock:
            now = self._clock() if now is None else now
            timeout = self._settings.idle_timeout
            candidates = self._pool if logins is None else filter(None, map(self._pool.get, logins))
            expired = [s.login for s in candidates if s.is_idle(now, timeout)]
            for login in expired:
                self._drop(login)
            self._counters.idle_evictions += len(expired)
            if expired:
                self._log.info("mt5.sessions.evicted", reason="idle", logins=expired, idle_timeout=timeout)
            return expired

    def session(self, login: int) -> SessionInfo | None:
        """The pooled session of ``login``, if any."""
        session = self._pool.get(login)
        return None if session is None else self._info(session)

    def sessions(self) -> list[SessionInfo]:
        """The pooled sessions, least recently used first."""
        return [self._info(s) for s in self._pool]

    def logins(self) -> list[int]:
        """The pooled accounts, least recently used first: :meth:`sessions`' logins, without the snapshots."""
        return [s.login for s in self._pool]

    @contextmanager
    def acquire(
        self, login: Any = None, password: Any = None, server: Any = None, *, attempt: int = 1
    ) -> Iterator[Callable[..., Any]]:
        """Hold the terminal for a sequence of calls, with ``login`` active if given.

        Yields ``call(function, *args, **kwargs)``, which logs the SDK call and raises the typed error on
        ``None``/``False``. Use it for any SDK function beyond the ones above, never the terminal directly.
        """
        request = AccountRequest.parse(login, password, server) if login is not None else None
        with self._lock:
            session = self._login_locked(request, attempt) if request is not None else None
            if session is None:
                self._ensure_ready(attempt)

            def call(function: str, *args: Any, **kwargs: Any) -> Any:
                result = self._sdk(function, args, kwargs, login=self._active, attempt=attempt)
                if result is None or result is False:
                    self._fail(self._last_error, attempt)
                return result

            try:
                yield call
            finally:
                if session is not None:
                    self._pool.used_until(session, self._clock())

    # --- observation ------------------------------------------------------------------------------

    def get_last_error(self) -> tuple[int, str]:
        """The ``last_error()`` of the most recent SDK call made through this manager."""
        return self._last_error

    def metrics(self) -> PoolMetrics:
        """Counters snapshot. Does not wait for the terminal lock (an initialize may hold it for a minute)."""
        return self._counters.snapshot(len(self._pool), self._pool.capacity, self._active)

    def __repr__(self) -> str:
        return (
            f"<MT5ConnectionManager {self.backend} {self._state.value}, sessions {len(self._pool)}/"
            f"{self._pool.capacity}, active={self._active}, {self._lock.waiting} waiting>"
        )

    # --- internals: run with the lock held ---------------------------------------------------------

    def _initialize_locked(self, policy: RetryPolicy) -> None:
        if self._state is TerminalState.READY:
            return  # the SDK's initialize() would reconnect: call it only when the terminal is not up
        s = self._settings
        for attempt in range(1, policy.attempts + 1):
            options = {"timeout": s.terminal_timeout_ms, "portable": s.terminal_portable}
            ok = self._sdk("initialize", (s.terminal_path,), options, attempt=attempt)
            if ok:
                self._state = TerminalState.READY
                self._active = None  # the terminal starts on its last account; ours is unknown
                self._counters.initializations += 1
                return
            if attempt == policy.attempts or not is_transient(self._last_error[0]):
                break
            self._counters.retries += 1
            self._sleep(policy.compute(attempt))
        raise error_from_last_error(self._last_error, attempt)

    def _ensure_ready(self, attempt: int) -> None:
        """Re-initialize a dropped terminal with a single attempt: the caller owns the retry schedule."""
        self._initialize_locked(RetryPolicy(retries=0))
        if attempt > 1:
            self._counters.retries += 1

    def _login_locked(self, request: AccountRequest, attempt: int) -> Session:
        self._ensure_ready(attempt)
        login, now = request.login, self._clock()
        session = self._pool.get(login)
        if session is not None and session.accepts(request.password, request.server):
            if self._active == login:
                self._counters.reuses += 1
            else:
                self._sdk_login(session.login, session.password.get_secret_value(), session.server, attempt)
                self._counters.switches += 1
            self._pool.touch(session, now)
            return session
        if request.password is None:
            raise InvalidRequestError(
                f"account {login} has no session in this worker: pass its password and server to log in"
            )
        server = request.server or (session.server if session is not None else None)
        if server is None:
            raise InvalidRequestError(f"account {login} has no session in this worker: pass its server to log in")
        self._sdk_login(login, request.password.get_secret_value(), server, attempt, new_credentials=True)
        if session is not None:  # new credentials for a pooled account, now proven
            session.server, session.password = server, request.password
        else:
            session = Session(login, server, request.password, created=now, last_used=now)
            evicted = self._pool.add(session)
            if evicted is not None:
                self._counters.lru_evictions += 1
                self._log.info("mt5.sessions.evicted", reason="lru", logins=[evicted.login])
        self._pool.touch(session, now)
        return session

    def _sdk_login(self, login: int, password: str, server: str, attempt: int, new_credentials: bool = False) -> None:
        self._counters.logins += 1
        options = {"timeout": self._settings.terminal_timeout_ms}
        if self._sdk("login", (login, password, server), options, login=login, server=server, attempt=attempt):
            self._active = login
            return
        if not new_credentials and not is_transient(self._last_error[0]):
            self._pool.remove(login)  # its stored credentials were refused: do not offer them again
        self._fail(self._last_error, attempt)

    def _run_locked(
        self, request: AccountRequest, function: str, args: tuple[Any, ...], kwargs: dict[str, Any], attempt: int
    ) -> Any:
        session = self._login_locked(request, attempt)
        try:
            result = self._sdk(function, args, kwargs, login=request.login, attempt=attempt)
        finally:
            self._pool.used_until(session, self._clock())
        if result is None or result is False:
            self._fail(self._last_error, attempt)
        return result

    def _drop(self, login: int) -> None:
        self._pool.remove(login)
        if self._active == login:
            self._active = None

    def _fail(self, error: tuple[int, str], attempt: int) -> NoReturn:
        self._active = None  # after a failed call the terminal's active account is unknown
        raise error_from_last_error(error, attempt)

    def _sdk(
        self,
        function: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        login: int | None = None,
        server: str | None = None,
        attempt: int = 1,
    ) -> Any:
        """Call the terminal, log the call, capture ``last_error()`` on failure. Lock held.

        ``login``/``server`` are for the log line only; what the SDK receives is ``args``/``kwargs``.
        """
        started = time.perf_counter()
        result = getattr(self._terminal, function)(*args, **(kwargs or {}))
        elapsed = time.perf_counter() - started
        ok = result is not None and result is not False
        self._last_error = SUCCESS if ok else self._terminal.last_error()
        code, message = self._last_error
        for hook in self.call_hooks:
            try:
                hook(function, elapsed, ok, code)
            except Exception:  # an observer must never fail the request it watches
                self._log.exception("mt5.call_hook_failed", function=function, hook=repr(hook))
        log = (self._log.debug if function in self._routine else self._log.info) if ok else self._log.warning
        log("mt5.call", function=function, login=login, server=server, duration_ms=round(elapsed * 1000, 3), ok=ok,
            mt5_code=code, mt5_message=message, attempt=attempt)  # fmt: skip
        if function == "terminal_info":
            self._connected = ok and bool(result.connected)
        elif function == "login":
            self._connected = ok  # a refused login leaves the terminal with no account, so no trade server
        elif function in ("initialize", "shutdown"):
            self._connected = False  # initialize: it reconnects to its last account, or not; unknown until told
        if not ok:
            self._counters.failures_by_code[code] += 1
            self._counters.last_failure_at = self._clock()
            if code in IPC_CODES:
                self._state = TerminalState.LOST
                self._connected = False
        return result

    def _info(self, session: Session) -> SessionInfo:
        return SessionInfo(
            login=session.login,
            server=session.server,
            pooled=session.login in self._pool,
            active=session.login == self._active,
            created=session.created,
            last_used=session.last_used,
            uses=session.uses,
        )
