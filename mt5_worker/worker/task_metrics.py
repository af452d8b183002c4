"""Task metrics by Celery task name: outcomes, runtime, queue wait; and the worker's backlog and fleet view.

Celery's signals tell each outcome where it happens. The pool child runs the tasks: succeeded, failed (by error
type and MT5 code), retried, their runtime and how long each message waited. The main process drops the
requests that never reach the child (revoked, expired, rejected) and records those whose child died under them
(``TimeLimitExceeded``, ``WorkerLostError``); it counts them on the :mod:`shared board
<mt5_worker.worker.shared_board>`, which the child's endpoint reads at scrape time, together with the backlog
the heartbeat measured (the figure bounded-load routing reads) and the fleet it saw in the registry.

Queue wait is the time from a message's publish to its start (:mod:`~mt5_worker.worker.queue_wait`).

Labels stay bounded: ``task`` is one of this worker's task names, else ``other``; ``error`` an exception class
name; ``code`` an MT5 error code. No login, server or task id is ever a label.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from billiard.exceptions import WorkerLostError
from celery.exceptions import TimeLimitExceeded
from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    task_rejected,
    task_retry,
    task_revoked,
    task_success,
    task_unknown,
)
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mt5_worker.errors import MT5Error
from mt5_worker.worker import shared_board
from mt5_worker.worker.queue_wait import queue_wait
from mt5_worker.worker.shared_board import SharedBoard

# From a message taken at once (milliseconds) to one that waited out a backlog or a retry's countdown.
QUEUE_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
RUNTIME_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 180)
MAIN_PROCESS_FAILURES = (TimeLimitExceeded, WorkerLostError)


def error_labels(exc: BaseException | None) -> tuple[str, str]:
    """(error type, MT5 code or "") of an exception."""
    if exc is None:
        return "unknown", ""
    return type(exc).__name__, str(exc.code) if isinstance(exc, MT5Error) else ""


class TaskMetrics(Collector):
    """The child's task counters and histograms in ``registry``, merged at scrape time with what the main process
    counted on ``board``."""

    def __init__(self, registry: CollectorRegistry, board: SharedBoard | None) -> None:
        self._board = board
        self._lock = threading.Lock()
        self._counts: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._errors: defaultdict[tuple[str, str, str, str], float] = defaultdict(float)
        self._started: dict[str, float] = {}
        self.queue_wait = Histogram(
            "mt5_task_queue_wait_seconds",
            "Seconds from a task message's publish (or its ETA) to its start, by task",
            ["task"],
            buckets=QUEUE_WAIT_BUCKETS,
            registry=registry,
        )
        self.runtime = Histogram(
            "mt5_task_runtime_seconds", "Seconds a task ran, by task", ["task"], buckets=RUNTIME_BUCKETS,
            registry=registry,
        )  # fmt: skip
        registry.register(self)

    def label(self, name: object) -> str:
        if self._board is not None:
            return self._board.label(name)
        return name if isinstance(name, str) else shared_board.OTHER

    def started(self, name: str, task_id: str, request: Any) -> None:
        now = time.time()
        waited = queue_wait(request, now)
        if waited is not None:
            self.queue_wait.labels(self.label(name)).observe(waited)
        with self._lock:
            self._started[task_id] = time.monotonic()

    def finished(self, name: str, task_id: str) -> None:
        with self._lock:
            started = self._started.pop(task_id, None)
        if started is not None:
            self.runtime.labels(self.label(name)).observe(time.monotonic() - started)

    def outcome(self, name: str, outcome: str, exc: BaseException | None = None) -> None:
        task = self.label(name)
        with self._lock:
            self._counts[task, outcome] += 1
            if outcome in ("failed", "retried"):
                self._errors[(task, outcome, *error_labels(exc))] += 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts, errors = defaultdict(float, self._counts), defaultdict(float, self._errors)
        board = self._board
        if board is not None:
            for task, outcome, error, value in board.counts():
                counts[task, outcome] += value
                if error:
                    errors[task, outcome, error, ""] += value
        tasks = CounterMetricFamily(
            "mt5_tasks",
            "Tasks by outcome: succeeded, failed, retried, rejected, revoked, expired",
            labels=["task", "outcome"],
        )
        for (task, outcome), value in sorted(counts.items()):
            tasks.add_metric([task, outcome], value)
        yield tasks
        failures = CounterMetricFamily(
            "mt5_task_errors",
            "Failed and retried tasks by error type and MT5 code",
            labels=["task", "outcome", "error", "code"],
        )
        for key, value in sorted(errors.items()):
            failures.add_metric(list(key), value)
        yield failures
        if board is not None:
            yield from _board_gauges(board)


def _board_gauges(board: SharedBoard) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "mt5_worker_backlog",
        "Requests waiting in this worker's own queue or reserved by it (what bounded-load routing reads)",
        value=board.get("backlog"),
    )
    yield GaugeMetricFamily(
        "mt5_worker_backlog_timestamp_seconds", "When the backlog was last measured (0: not yet)",
        value=board.get("backlog_at"),
    )  # fmt: skip
    fleet = GaugeMetricFamily(
        "mt5_fleet_workers", "Workers in the registry, as this worker's last heartbeat read it", labels=["state"]
    )
    if board.get("fleet_at"):
        fleet.add_metric(["live"], board.get("workers_live"))
        fleet.add_metric(["departed"], board.get("workers_departed"))
    yield fleet


# --- Celery's signals -------------------------------------------------------------------------------------------

_metrics: TaskMetrics | None = None  # this process's, while it serves metrics
after_task: list[Callable[[], None]] = []  # called in the child after every task (the runtime reports its terminal)


def serve(registry: CollectorRegistry) -> TaskMetrics:
    """Count this process's tasks into ``registry`` (the child's metrics endpoint)."""
    global _metrics
    _metrics = TaskMetrics(registry, shared_board.current())
    return _metrics


def stop() -> None:
    global _metrics
    _metrics = None


@task_prerun.connect
def _on_prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
    board = shared_board.current()
    if board is not None:
        board.set_running(task.name)
    if _metrics is not None:
        _metrics.started(task.name, task_id, task.request)


@task_postrun.connect
def _on_postrun(task_id: str = "", task: Any = None, **_: Any) -> None:
    board = shared_board.current()
    if board is not None:
        board.set_running(None)
    if _metrics is not None:
        _metrics.finished(task.name, task_id)
    for hook in after_task:
        hook()


@task_success.connect
def _on_success(sender: Any = None, **_: Any) -> None:
    if _metrics is not None:
        _metrics.outcome(sender.name, "succeeded")


@task_failure.connect
def _on_failure(sender: Any = None, task_id: str = "", exception: BaseException | None = None, **_: Any) -> None:
    if isinstance(exception, MAIN_PROCESS_FAILURES):  # the main process's: the child is gone or being killed
        board = shared_board.current()
        if board is not None and _first_report(task_id):
            board.count(sender.name, "failed", type(exception).__name__)
    elif _metrics is not None:
        _metrics.outcome(sender.name, "failed", exception)


@task_retry.connect
def _on_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    if reason is None:  # the main process cancelled a running task to retry it (a lost broker connection)
        board = shared_board.current()
        if board is not None:
            board.count(getattr(sender, "name", None), "retried")
    elif _metrics is not None:
        _metrics.outcome(sender.name, "retried", getattr(reason, "exc", None) or reason)


@task_revoked.connect
def _on_revoked(sender: Any = None, expired: bool = False, **_: Any) -> None:
    board = shared_board.current()
    if board is not None:
        board.count(getattr(sender, "name", None), "expired" if expired else "revoked")


@task_rejected.connect
def _on_rejected(message: Any = None, **_: Any) -> None:
    count_rejected(message)


@task_unknown.connect
def _on_unknown(name: object = None, **_: Any) -> None:
    board = shared_board.current()
    if board is not None:
        board.count(name, "rejected")


_reported: OrderedDict[str, None] = OrderedDict()  # the last task ids the main process counted as failed


def _first_report(task_id: str) -> bool:
    """Celery 5.7 sends ``task_failure`` twice for a hard time limit (when it fires, and when the killed child's
    job fails): count a task id once."""
    if task_id in _reported:
        return False
    _reported[task_id] = None
    while len(_reported) > 1000:
        _reported.popitem(last=False)
    return True


def count_rejected(message: Any) -> None:
    """A message the worker refused without running it (malformed, undecodable, not a task)."""
    board = shared_board.current()
    if board is not None:
        headers = getattr(message, "headers", None)
        board.count(headers.get("task") if isinstance(headers, dict) else None, "rejected")
