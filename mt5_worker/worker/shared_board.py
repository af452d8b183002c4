"""Numbers a worker's main process and its pool child share: a small block of shared memory mapped before the fork.

The child owns the terminal and serves ``/metrics``; the main process owns the broker connection and the
heartbeat. Each knows things the other reports: the main process sees the requests that never reach the child
(revoked, expired, rejected, and those whose child was killed) and measures the backlog; the child knows its
terminal's state and the task it runs, which the main process's heartbeat writes to Redis for
``mt5-worker status``. Every slot has one writer, so no lock is needed: a reader sees each number whole (an
aligned double) and at worst one update late.

The block is made once per worker in the main process (Celery's ``worker_init``), so a prefork child inherits it
and a child that replaces a killed one sees the same block. With ``--pool=solo`` both sides are one process.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

OTHER = "other"  # the label of a task name this worker does not have (an unknown or malformed message)
# Outcomes only the main process sees, per task: a request dropped before it ran, or a child killed under it.
MAIN_OUTCOMES = ("rejected", "revoked", "expired", "retried")
MAIN_FAILURES = ("TimeLimitExceeded", "WorkerLostError")  # failures the main process records (the child is gone)
GAUGES = (
    # written by the main process
    "backlog", "backlog_at", "workers_live", "workers_departed", "fleet_at",
    # written by the child
    "child_pid", "initialized", "connected", "sessions", "capacity", "running", "running_since", "terminal_at",
    "held",
)  # fmt: skip
NOT_RUNNING = -1.0


@dataclass(frozen=True)
class TerminalSlots:
    """What the child last wrote about its terminal (``at`` = 0: nothing yet)."""

    child_pid: int
    initialized: bool
    connected: bool
    sessions: int
    capacity: int
    running: str | None  # the task the child runs now
    running_since: float
    at: float
    logins: tuple[int, ...] = ()  # the accounts its pool holds


class SharedBoard:
    """Counters and gauges in one shared array of doubles. ``tasks``: the task names this worker has (labels);
    any other name counts as ``other``; ``pool_size``: how many logins the pool may hold (a double holds any
    login exactly: they are integers far below 2**53)."""

    def __init__(self, tasks: Iterable[str], pool_size: int = 0) -> None:
        self.tasks: tuple[str, ...] = (*sorted(set(tasks) - {OTHER}), OTHER)
        self._task_index = {name: i for i, name in enumerate(self.tasks)}
        keys = [(outcome, "") for outcome in MAIN_OUTCOMES] + [("failed", error) for error in MAIN_FAILURES]
        self._kinds = {key: i for i, key in enumerate(keys)}
        self._gauges = {name: len(self.tasks) * len(keys) + i for i, name in enumerate(GAUGES)}
        self._logins = len(self.tasks) * len(keys) + len(GAUGES)  # then pool_size slots: the pool's logins
        self.pool_size = pool_size
        self._values: Any = multiprocessing.RawArray("d", self._logins + pool_size)
        self._values[self._gauges["running"]] = NOT_RUNNING

    def label(self, name: object) -> str:
        """The task label of ``name``: itself if this worker has that task, else ``other`` (bounded cardinality)."""
        return name if isinstance(name, str) and name in self._task_index else OTHER

    # --- counters (main process) ------------------------------------------------------------------------

    def count(self, task: object, outcome: str, error: str = "") -> None:
        """One more request of ``task`` with ``outcome`` (one of ``MAIN_OUTCOMES``, or ``failed`` with ``error``)."""
        kind = self._kinds.get((outcome, error if outcome == "failed" else ""))
        if kind is None:
            return
        self._values[self._task_index[self.label(task)] * len(self._kinds) + kind] += 1

    def counts(self) -> Iterator[tuple[str, str, str, float]]:
        """``(task, outcome, error, count)`` of every counter above zero."""
        for task, t in self._task_index.items():
            for (outcome, error), k in self._kinds.items():
                value = self._values[t * len(self._kinds) + k]
                if value:
                    yield task, outcome, error, value

    # --- gauges -------------------------------------------------------------------------------------------

    def set(self, **values: float) -> None:
        for name, value in values.items():
            self._values[self._gauges[name]] = float(value)

    def get(self, name: str) -> float:
        return float(self._values[self._gauges[name]])

    def set_backlog(self, backlog: int, at: float) -> None:
        self.set(backlog=backlog, backlog_at=at)

    def set_fleet(self, live: int, departed: int, at: float) -> None:
        self.set(workers_live=live, workers_departed=departed, fleet_at=at)

    def set_terminal(
        self, *, child_pid: int, initialized: bool, connected: bool, capacity: int, logins: Sequence[int]
    ) -> None:
        """The child's report; ``logins``: the accounts its pool holds (written before their count, so a reader
        never counts a slot not yet written)."""
        held = list(logins)[: self.pool_size]
        for i, login in enumerate(held):
            self._values[self._logins + i] = float(login)
        self.set(child_pid=child_pid, initialized=initialized, connected=connected, sessions=len(logins),
                 capacity=capacity, held=len(held), terminal_at=time.time())  # fmt: skip

    def set_running(self, task: object | None) -> None:
        """The task the child starts now (``None``: it finished)."""
        if task is None:
            self.set(running=NOT_RUNNING, running_since=0.0)
        else:
            self.set(running=self._task_index[self.label(task)], running_since=time.time())

    def terminal(self) -> TerminalSlots:
        running = int(self.get("running"))
        return TerminalSlots(
            child_pid=int(self.get("child_pid")),
            initialized=bool(self.get("initialized")),
            connected=bool(self.get("connected")),
            sessions=int(self.get("sessions")),
            capacity=int(self.get("capacity")),
            running=self.tasks[running] if 0 <= running < len(self.tasks) else None,
            running_since=self.get("running_since"),
            at=self.get("terminal_at"),
            logins=tuple(int(self._values[self._logins + i]) for i in range(int(self.get("held")))),
        )


_board: SharedBoard | None = None


def install(tasks: Iterable[str], pool_size: int) -> SharedBoard:
    """Make this worker's board (in the main process, before the pool forks)."""
    global _board
    _board = SharedBoard(tasks, pool_size)
    return _board


def current() -> SharedBoard | None:
    """This worker's board; ``None`` outside a worker (a manager in a test, the bridge, a client)."""
    return _board
