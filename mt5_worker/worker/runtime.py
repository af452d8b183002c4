"""What one worker process owns: its manager (one terminal) and its session bookkeeping in Redis.

Created once per process, in the process that runs tasks (the prefork child, or the solo worker), never in
a parent that forks afterwards: the pid is checked on use, as redis-py's pools do.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from mt5_worker.errors import MT5Error
from mt5_worker.fleet.order_desk import OrderDesk
from mt5_worker.fleet.order_journal import OrderJournal, TradeEvents
from mt5_worker.fleet.sessions import SessionStore, connect
from mt5_worker.logging import get_logger
from mt5_worker.manager.account_data import AccountData
from mt5_worker.manager.connection_manager import MT5ConnectionManager, TerminalState
from mt5_worker.manager.market_data import MarketData
from mt5_worker.manager.snapshots import SessionInfo
from mt5_worker.manager.trading import Trader
from mt5_worker.settings import Settings
from mt5_worker.streams.codec import trade_fields
from mt5_worker.streams.keys import HORIZON_KEY, trades_key
from mt5_worker.worker import json_codec, shared_board, task_metrics
from mt5_worker.worker.metrics import ManagerMetrics, MetricsServer
from mt5_worker.worker.settings import worker_settings
from mt5_worker.worker.trading_metrics import TradingMetrics

log = get_logger("mt5_worker.worker.runtime")


class WorkerRuntime:
    """A worker process's manager and session store, and the bookkeeping that keeps them in step."""

    def __init__(
        self,
        settings: Settings,
        manager: MT5ConnectionManager,
        store: SessionStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.market = MarketData(manager, settings.max_rows, columns=json_codec.array_columns)
        self.account = AccountData(manager, settings.max_rows)
        self.store = store
        events = TradeEvents(trades_key, HORIZON_KEY, trade_fields)  # mt5:trades:<login> (docs/streams.md)
        journal = OrderJournal(store.client, ttl=settings.trading_record_ttl, lease=settings.trading_lease,
                               events=events)  # fmt: skip
        window = settings.trading_presend_window if settings.trading_presend_search else None
        self.desk = OrderDesk(Trader(manager), journal, store.worker_id, settle=settings.trading_settle,
                              presend_window=window)  # fmt: skip
        self.pid = os.getpid()
        self._clock = clock
        self._resync = True  # reconcile Redis with the pool before the next write (start, or after an outage)
        self._written: dict[int, float] = {}  # login -> the last-used time Redis has for it
        # The start-up thread reconciles Redis with the pool while tasks may already write to it: a reconcile
        # must not write a snapshot of the pool taken before a task's write and so undo it.
        self._store_lock = threading.RLock()
        self.metrics_server: MetricsServer | None = None

    @classmethod
    def create(cls, settings: Settings, worker_id: str) -> WorkerRuntime:
        store = SessionStore(connect(settings.session_store_url), worker_id)
        return cls(settings, MT5ConnectionManager.from_settings(settings), store)

    @property
    def worker_id(self) -> str:
        return self.store.worker_id

    def start(self) -> None:
        """Initialize the terminal in the background: ``worker_process_init`` must return within 4 s."""
        if self.settings.metrics_port:  # served by this process, the one that owns the manager; hooked in first
            exporter = ManagerMetrics(self.manager, self.worker_id)  # so the initialize() call is observed too
            task_metrics.serve(exporter.registry)
            self.desk.outcome_hooks.append(TradingMetrics(exporter.registry, self.desk.journal).count)
            self.metrics_server = exporter.serve(self.settings.metrics_port, self.settings.metrics_addr)
        if shared_board.current() is not None:  # a worker's child: tell the main process about the terminal
            # after every task (and after the terminal starts, below): what a task changed is there by its end
            task_metrics.after_task.append(self.report_terminal)
            self.report_terminal()
        threading.Thread(target=self._start, name="mt5-initialize", daemon=True).start()

    def report_terminal(self) -> None:
        """The terminal's last known state, for the heartbeat's status record (``mt5-worker status``)."""
        board = shared_board.current()
        if board is not None:
            board.set_terminal(child_pid=self.pid, initialized=self.manager.state is TerminalState.READY,
                               connected=self.manager.last_known_connected, capacity=self.settings.pool_size,
                               logins=self.manager.logins())  # fmt: skip

    def _start(self) -> None:
        try:
            self.manager.initialize()
        except MT5Error as exc:  # tasks will re-initialize on use; Celery retries them
            log.error("mt5.worker.initialize_failed", mt5_code=exc.code, mt5_message=exc.message)
        self._sync()
        self.report_terminal()

    def record(self, info: SessionInfo | None) -> None:
        """Write a used session's last-used time (one pipelined round trip), at most once per
        ``MT5_SESSION_WRITE_INTERVAL`` per session: the round trip is most of a request's own cost, and the
        sweep does not need more precision, because the pool confirms every candidate it finds in Redis."""
        with self._store_lock:
            if self._resync:
                self._sync()
                return
            if info is None:
                return
            written = self._written.get(info.login)
            if written is not None and info.last_used - written < self.settings.session_write_interval:
                return
            if self.store.record([info]):
                self._written[info.login] = info.last_used
            else:
                self._resync = True

    def sweep(self, now: float | None = None) -> list[int]:
        """Log out sessions idle past the timeout; Redis finds the candidates, the pool has the last word."""
        with self._store_lock:
            now = self._clock() if now is None else now
            candidates = self.store.expired(now - self.settings.idle_timeout)
            if candidates is None:  # Redis down: the pool itself is the index
                self._resync = True
                return self.manager.evict_idle(now)
            evicted = self.manager.evict_idle(now, logins=candidates)
            held = [s for s in map(self.manager.session, candidates) if s is not None]
            # Evicted, or listed by a previous process: drop. Still held but used since (Redis lagged): rewrite.
            dropped = set(candidates) - {s.login for s in held}
            self.store.remove(dropped)
            if self.store.record(held):
                self._written.update({s.login: s.last_used for s in held})
            for login in dropped:
                self._written.pop(login, None)
            return evicted

    def stats(self) -> dict[str, Any]:
        sessions = self.store.sessions()
        return {
            "worker_id": self.worker_id,
            "pid": self.pid,
            "metrics": self.manager.metrics().as_dict(),
            "pool": [asdict(s) for s in self.manager.sessions()],
            "redis_sessions": sessions,
            "redis_available": sessions is not None,
        }

    def close(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.stop()
            task_metrics.stop()
        if self.report_terminal in task_metrics.after_task:
            task_metrics.after_task.remove(self.report_terminal)
        self.manager.shutdown()

    def _sync(self) -> None:
        with self._store_lock:
            held = self.manager.sessions()
            self._resync = self.store.reconcile(held) is None
            self._written = {} if self._resync else {s.login: s.last_used for s in held}


_lock = threading.Lock()
_current: WorkerRuntime | None = None
nodename: str | None = None  # set by the celeryd_init signal, before the pool forks


def get_runtime(settings: Settings | None = None) -> WorkerRuntime:
    """This process's runtime, created (and started) on first use."""
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            settings = settings if settings is not None else worker_settings()
            _current = WorkerRuntime.create(settings, settings.terminal_id(nodename or socket.gethostname()))
            _current.start()
        return _current


def close_runtime() -> None:
    global _current
    with _lock:
        if _current is not None and _current.pid == os.getpid():
            _current.close()
        _current = None
