"""Account-batched serving: regroup a bounded window of queued requests by account before running them.

Under a backlog, strict FIFO on one terminal switches accounts on almost every request. The worker's main
process keeps the ``mt5.account_info`` / ``mt5.login`` requests that arrive while the terminal is busy in one
buffer, and hands them to the pool grouped by account (groups in order of their first request, FIFO inside a
group, the account the terminal is on first) when ``MT5_BATCH_WINDOW`` of them have arrived, or as soon as
the terminal has nothing left to do (seen when a request completes, and by a tick every
``MT5_BATCH_MAX_DELAY``). So the terminal logs in once per account per window.

Bounds: a request is overtaken only by later requests of its own window (at most ``window - 1``). While
the terminal is busy, a buffered request waits no longer than it would have in FIFO's queue behind the
same work; once the terminal is free, a partial window waits at most ``MT5_BATCH_MAX_DELAY`` to fill (the
buffer looks that often), and a request that finds the terminal idle and the buffer empty goes at once.

Why a Celery *strategy* rather than ``celery-batches``: each request stays an ordinary Celery request, with
its own result, acks_late, autoretry, time limit and events; only the order in which the pool receives them
changes. A failure therefore fails only that request (and the account's next requests retry on their own).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from celery.worker import state as worker_state
from celery.worker.strategy import default as default_strategy

from mt5_worker.fleet.routing import login_of
from mt5_worker.logging import get_logger
from mt5_worker.worker.settings import worker_settings

T = TypeVar("T")
log = get_logger("mt5_worker.worker.batching")


def batch_order(items: Iterable[T], key: Callable[[T], Hashable], first: Hashable = None) -> list[T]:
    """``items`` grouped by ``key``: groups in order of first arrival (``first``'s group, if any, leads),
    arrival order inside each group."""
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    ordered = sorted(groups, key=lambda k: k != first)  # stable: otherwise arrival order
    return [item for k in ordered for item in groups[k]]


class AccountBatcher:
    """Buffers requests and dispatches them as account-grouped windows.

    ``busy(n)`` tells whether the worker holds reserved requests other than ``n`` not yet dispatched ones.
    """

    def __init__(
        self,
        dispatch: Callable[[Any], None],
        window: int,
        max_delay: float,
        call_after: Callable[[float, Callable[[], None]], Any],
        busy: Callable[[int], bool] = lambda buffered: True,
        key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        self._dispatch = dispatch
        self._busy = busy
        self._key = key or _account
        self.window = window
        self.max_delay = max_delay
        self._call_after = call_after
        self._lock = threading.Lock()  # solo pools call add() and the timer from different threads
        self._buffer: list[Any] = []
        self._timer: Any = None
        self._last: Hashable = None  # the account dispatched last: the terminal is (about to be) on it

    def add(self, request: Any) -> None:
        with self._lock:
            immediate = not self._buffer and not self._busy(1)
            if immediate:  # nothing to group it with and nothing running: waiting would only add latency
                self._last = self._key(request)
            else:
                self._buffer.append(request)
                if self._timer is None:
                    self._timer = self._call_after(self.max_delay, self._tick)
            full = len(self._buffer) >= self.window
        if immediate:
            self._send(request)
        elif full:
            self.flush()

    def _send(self, request: Any) -> None:
        """Dispatch, and look at the buffer again the moment this request is done (a missed look is only a
        delay: the ``max_delay`` tick looks too)."""
        for name in ("on_success", "on_failure"):
            callback = getattr(request, name, None)
            if callback is not None:
                setattr(request, name, _then(callback, self._on_done))
        self._dispatch(request)

    def _on_done(self) -> None:
        with self._lock:
            ready = bool(self._buffer) and not self._busy(len(self._buffer))
        if ready:
            self.flush()

    def _tick(self) -> None:
        """Every ``max_delay`` while requests wait: send them once the terminal has nothing else to do."""
        with self._lock:
            self._timer = None
            if not self._buffer:
                return
            if self._busy(len(self._buffer)):
                self._timer = self._call_after(self.max_delay, self._tick)
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not batch:
                return
            ordered = batch_order(batch, self._key, first=self._last)
            self._last = self._key(ordered[-1])
        if len(batch) > 1:
            log.info("mt5.batch.dispatched", requests=len(batch), accounts=len({self._key(r) for r in batch}))
        for request in ordered:
            self._send(request)


def _then(callback: Callable[..., Any], after: Callable[[], None]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        finally:
            after()

    return wrapped


def _account(request: Any) -> Hashable:
    try:
        return login_of(request.args, request.kwargs)
    except Exception:  # an undecodable body: its own group, the task reports the error
        return None


class _Redirected:
    """The consumer as Celery's default strategy sees it, with new requests sent to the batcher instead."""

    def __init__(self, consumer: Any, on_task_request: Callable[[Any], None]) -> None:
        self._consumer = consumer
        self.on_task_request = on_task_request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


_batchers: dict[int, AccountBatcher] = {}  # one buffer per consumer, shared by the account tasks


def strategy(task: Any, app: Any, consumer: Any, **kwargs: Any) -> Any:
    """Celery task ``Strategy`` for the account tasks; plain FIFO when ``MT5_BATCH_WINDOW`` is 1.

    Requests with an ETA (autoretry countdowns) bypass the buffer: Celery's timer hands them to the real
    consumer when due.
    """
    settings = worker_settings()
    if settings.batch_window == 1:
        return default_strategy(task, app, consumer, **kwargs)
    batcher = _batchers.get(id(consumer))
    if batcher is None:
        batcher = _batchers[id(consumer)] = AccountBatcher(
            consumer.on_task_request,
            settings.batch_window,
            settings.batch_max_delay,
            consumer.timer.call_after,
            # Every reserved request, buffered ones included (Celery reserves before the strategy hands on).
            busy=lambda buffered: len(worker_state.reserved_requests) > buffered,
        )
    return default_strategy(task, app, _Redirected(consumer, batcher.add), **kwargs)
