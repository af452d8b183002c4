"""The worker's membership step: announce this terminal, keep it announced, report its backlog and its status,
and adopt departed workers' queues (those it is one of the :func:`~mt5_worker.fleet.registry.reapers` of).

Runs in the worker's main process (a Celery bootstep with its own thread), not in the pool child that talks to
the terminal: a long or stuck SDK call in the child must not make the worker look departed while the prefork
parent is still there to end it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import replace
from typing import Any, ClassVar

from celery import bootsteps
from kombu.exceptions import OperationalError

from mt5_worker.fleet import worker_status
from mt5_worker.fleet.registry import WorkerRegistry, reapers
from mt5_worker.fleet.sessions import REDIS_DOWN, connect
from mt5_worker.fleet.worker_status import WorkerStatus
from mt5_worker.logging import get_logger
from mt5_worker.worker import shared_board
from mt5_worker.worker.celery_config import redelivery_bound
from mt5_worker.worker.load_report import LoadReporter
from mt5_worker.worker.reaper import drain
from mt5_worker.worker.settings import worker_settings

log = get_logger("mt5_worker.worker.heartbeat")
STATUS_INTERVAL = 1.0  # seconds between writes of the status record (at the load reports' pace, at most this often)


class Heartbeat(bootsteps.StartStopStep):
    """Register, heartbeat every ``MT5_HEARTBEAT_INTERVAL`` and reap; deregister on a clean shutdown."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Pool"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.settings = worker_settings()
        self.terminal_id = self.settings.terminal_id(worker.hostname)
        self._redis = connect(self.settings.session_store_url)
        self.registry = WorkerRegistry(self._redis, ttl=self.settings.heartbeat_ttl)
        self.board = shared_board.current()
        self._started_at = time.time()
        self._reporter: LoadReporter | None = None
        self._status_at = 0.0
        self._beat_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._app = worker.app

    def start(self, worker: Any) -> None:
        self._thread = threading.Thread(target=self._run, name="mt5-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.registry.deregister(self.terminal_id, time.time())
            log.info("mt5.worker.deregistered", terminal_id=self.terminal_id)
        except REDIS_DOWN:
            log.warning("mt5.worker.deregister_failed", terminal_id=self.terminal_id)

    def _run(self) -> None:
        """Heartbeat every ``MT5_HEARTBEAT_INTERVAL``; report the backlog every ``MT5_LOAD_REPORT_INTERVAL``."""
        reporter = self._reporter = LoadReporter(self._app, self.registry, self.terminal_id)
        next_beat = time.monotonic()
        while True:
            if time.monotonic() >= next_beat:
                self.beat()
                next_beat = time.monotonic() + self.settings.heartbeat_interval
            self._report_load(reporter)
            wait = min(self.settings.load_report_interval, max(0.0, next_beat - time.monotonic()))
            if self._stop.wait(wait):
                reporter.close()
                return

    def _report_load(self, reporter: LoadReporter) -> None:
        """A report that fails is only late: the next one replaces it (and the heartbeat logs an outage)."""
        try:
            reporter.report()
        except Exception as exc:  # the broker's or Redis's errors: this thread must go on
            log.debug("mt5.worker.load_report_failed", terminal_id=self.terminal_id, error=type(exc).__name__)
        if self.board is not None and reporter.last is not None:  # measured, even if Redis refused the report
            self.board.set_backlog(reporter.last.backlog, reporter.last.at)
        now = time.time()
        if now - self._status_at >= STATUS_INTERVAL:  # between heartbeats too: `mt5-worker status --watch` is live
            self._status_at = now
            with contextlib.suppress(*REDIS_DOWN):  # the heartbeat logs the outage
                worker_status.write(self._redis, self.status(now))

    def beat(self) -> None:
        """Announce this worker; when members have departed, drain the queues this worker is a reaper of."""
        now = time.time()
        try:
            beat = self.registry.heartbeat(self.terminal_id, self.settings.pool_size, now)
            self._beat_at = now
            if self.board is not None:
                self.board.set_fleet(beat.live, len(beat.departed), now)
            if not beat.departed:
                return  # nobody departed: no need to read the membership
            elected = reapers(beat.departed, self.registry.live_ids(now))
            mine = [tid for tid, chosen in elected.items() if self.terminal_id in chosen]
            if not mine:
                return  # other survivors adopt them (a departed reaper is replaced at the next beat)
            live = self.registry.read(now).live
            for tid in mine:
                moved = drain(self._app, tid, live)
                # Keep watching a departed queue until the broker has restored what its worker died holding:
                # on Redis that takes the visibility timeout after *delivery*, plus the restore scan's own delays
                # (a worker killed mid-scan holds kombu's restore mutex a while), so wait well past it.
                settled = now - beat.departed[tid] > 3 * redelivery_bound(self.settings)
                # drain() found the queue empty (it had live workers to move to: this one, at least).
                if settled and not moved and live:
                    self.registry.forget(tid)
        except (*REDIS_DOWN, OperationalError) as exc:
            log.warning("mt5.worker.heartbeat_failed", terminal_id=self.terminal_id, error=str(exc))
        except Exception as exc:  # a broker's channel error, say: this thread must go on, or the worker looks gone
            error = f"{type(exc).__name__}: {exc}"
            log.warning("mt5.worker.heartbeat_failed", terminal_id=self.terminal_id, error=error)

    def status(self, now: float) -> WorkerStatus:
        """This worker as ``mt5-worker status`` shows it: the main process's view and what the child last reported."""
        last = self._reporter.last if self._reporter is not None else None
        base = WorkerStatus(self.terminal_id, socket.gethostname(), os.getpid(), self.settings.backend,
                            self._started_at, now, self._beat_at,
                            backlog=last.backlog if last is not None else None)  # fmt: skip
        if self.board is None:
            return base
        t = self.board.terminal()
        return replace(base, child_pid=t.child_pid, initialized=t.initialized, connected=t.connected,
                       terminal_at=t.at, sessions=t.sessions, capacity=t.capacity, accounts=t.logins,
                       running=t.running, running_since=t.running_since)  # fmt: skip
