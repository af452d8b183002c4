"""This worker's backlog, reported to the registry for bounded-load routing (:mod:`mt5_worker.fleet.load`).

Backlog = the messages waiting in its own queue (``mt5.terminal.<id>``) plus the requests it has reserved: the
prefetched ones, those in the batching buffer and the one running. Rate = requests started per second since the
previous report (Celery's count of accepted tasks). The shared queues are left out: whichever worker is free
takes their messages. Runs in the worker's main process, on the heartbeat's thread, every
``MT5_LOAD_REPORT_INTERVAL``: one passive queue declaration on the broker and one ``HSET`` on the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from celery.worker import state as worker_state

from mt5_worker.fleet.load import LoadReport
from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.routing import terminal_queue_name
from mt5_worker.worker.reaper import queue_length


class LoadReporter:
    """Measures and reports one worker's backlog; ``report()`` raises what the broker or Redis raise."""

    def __init__(
        self, app: Any, registry: WorkerRegistry, terminal_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._app = app
        self._registry = registry
        self.terminal_id = terminal_id
        self._queue = terminal_queue_name(terminal_id)
        self._clock = clock
        self._started = worker_state.all_total_count[0]
        self._since = clock()

    def measure(self) -> LoadReport:
        now = self._clock()
        started = worker_state.all_total_count[0]
        elapsed = now - self._since
        rate = (started - self._started) / elapsed if elapsed > 0 else 0.0
        self._started, self._since = started, now
        backlog = queue_length(self._app, self._queue) + len(worker_state.reserved_requests)
        return LoadReport(backlog, rate, now)

    def report(self) -> LoadReport:
        report = self.measure()
        self._registry.report_load(self.terminal_id, report)
        return report
