"""This worker's backlog, reported to the registry for bounded-load routing (:mod:`mt5_worker.fleet.load`).

Backlog = the messages waiting in its own queue (``mt5.terminal.<id>``) plus the requests it has reserved: the
prefetched ones, those in the batching buffer and the one running. Rate = requests started per second since the
previous report (Celery's count of accepted tasks). The requests reserved count whichever queue they came from,
the shared ``mt5`` queue included (adaptive routing sends there past a busy terminal; the worker batches them
with its own), so a worker that took shared work reports itself busier. The messages still waiting in the shared
queues are left out: no one worker will serve them (a router counts its own shared sends until reported).

Runs in the worker's main process, on the heartbeat's thread, every ``MT5_LOAD_REPORT_INTERVAL``: one passive
queue declaration on the broker, over a connection of the reporter's own (kept open, opened again after an error
that closed it), and one ``HSET`` on the registry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from celery.worker import state as worker_state
from kombu.transport.virtual import Transport as VirtualTransport

from mt5_worker.fleet.load import LoadReport
from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.routing import terminal_queue_name


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
        self._connection: Any = None
        self.last: LoadReport | None = None  # the last measure, reported or not (the metrics show it)

    def measure(self) -> LoadReport:
        now = self._clock()
        started = worker_state.all_total_count[0]
        elapsed = now - self._since
        rate = (started - self._started) / elapsed if elapsed > 0 else 0.0
        self._started, self._since = started, now
        backlog = self._queued() + len(worker_state.reserved_requests)
        self.last = LoadReport(backlog, rate, now)
        return self.last

    def report(self) -> LoadReport:
        report = self.measure()
        self._registry.report_load(self.terminal_id, report)
        return report

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):  # closing a connection that already failed
                connection.close()

    def _queued(self) -> int:
        """Messages waiting in this worker's own queue. A connection that failed is closed and not reused: on
        RabbitMQ a refused declaration closes its channel. On Redis (a virtual transport) a refusal changes
        nothing, and it is the usual answer: an empty queue is no key at all, so kombu finds no such queue."""
        if self._connection is None:
            self._connection = self._app.connection_for_write()
        connection = self._connection
        try:
            return int(connection.default_channel.queue_declare(queue=self._queue, passive=True).message_count)
        except connection.channel_errors:  # not declared yet, or (Redis) empty: nothing in it
            if not isinstance(connection.transport, VirtualTransport):
                self.close()
            return 0
        except Exception:
            self.close()
            raise
