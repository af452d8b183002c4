"""A fair (FIFO) lock for the terminal.

``threading.Lock`` makes no ordering promise: under load one busy thread can re-acquire it again and again
while another account's request starves. Here each waiter parks on its own lock and ``release`` hands
ownership directly to the longest waiter, so requests are served in arrival order (httpcore's pool does the
same with one event per waiter). A waiter that times out leaves the queue.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FairLock:
    """A non-reentrant mutex that grants ownership in arrival order."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._locked = False

    def acquire(self, timeout: float | None = None) -> bool:
        with self._mutex:
            if not self._locked:
                self._locked = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        if waiter.acquire(timeout=-1 if timeout is None else timeout):
            return True  # release() handed us ownership
        with self._mutex:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                return True  # handed over just as we gave up: we own it now
            return False

    def release(self) -> None:
        with self._mutex:
            if not self._locked:
                raise RuntimeError("release of an unlocked FairLock")
            if self._waiters:
                self._waiters.popleft().release()  # ownership passes on; _locked stays True
            else:
                self._locked = False

    def locked(self) -> bool:
        return self._locked

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<FairLock {'locked' if self._locked else 'unlocked'}, {self.waiting} waiting>"
