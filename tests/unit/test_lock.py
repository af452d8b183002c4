"""FairLock grants the terminal in arrival order."""

from __future__ import annotations

import threading
import time

import pytest

from mt5_worker.manager.lock import FairLock


def _wait_until(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def test_waiters_are_served_in_arrival_order() -> None:
    lock = FairLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for i in range(10):
        thread = threading.Thread(target=lambda i=i: (lock.acquire(), order.append(i), lock.release()))
        thread.start()
        threads.append(thread)
        _wait_until(lambda i=i: lock.waiting == i + 1)  # enqueue one at a time, in a known order
    lock.release()
    for thread in threads:
        thread.join()
    assert list(range(10)) == order
    assert not lock.locked()


def test_a_releasing_thread_cannot_barge_ahead_of_waiters() -> None:
    lock = FairLock()
    order: list[str] = []
    lock.acquire()
    waiter = threading.Thread(target=lambda: (lock.acquire(), order.append("waiter"), lock.release()))
    waiter.start()
    _wait_until(lambda: lock.waiting == 1)
    lock.release()
    lock.acquire()  # handed to the waiter first: this blocks until the waiter is done
    order.append("releaser")
    lock.release()
    waiter.join()
    assert ["waiter", "releaser"] == order


def test_a_timed_out_waiter_leaves_the_queue() -> None:
    lock = FairLock()
    lock.acquire()
    assert lock.acquire(timeout=0.01) is False
    assert 0 == lock.waiting
    lock.release()
    assert lock.acquire(timeout=0.01) is True
    lock.release()


def test_release_of_an_unlocked_lock_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        FairLock().release()
