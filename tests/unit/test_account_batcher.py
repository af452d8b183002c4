"""The account batcher (worker/batching.py) in-process: windows grouped by account, FIFO kept within a group, no
request overtaken by more than a window, timers and the busy check injected."""

from __future__ import annotations

import itertools
import random
from typing import Any

from mt5_worker.worker.batching import AccountBatcher, batch_order


def account(request: tuple[int, int]) -> int:
    return request[1]


class _ManualTimer:
    def __init__(self) -> None:
        self.pending: list[Any] = []

    def call_after(self, seconds: float, fun: Any) -> Any:
        entry = _Entry(fun)
        self.pending.append(entry)
        return entry


class _Entry:
    def __init__(self, fun: Any) -> None:
        self.fun, self.cancelled = fun, False

    def cancel(self) -> None:
        self.cancelled = True


class _Request:
    def __init__(self, n: int, login: int) -> None:
        self.item = (n, login)

    def on_success(self) -> None:
        pass

    def on_failure(self) -> None:
        pass


def test_a_request_that_finds_the_worker_idle_goes_at_once() -> None:
    timer, dispatched, busy = _ManualTimer(), [], [False]
    batcher = AccountBatcher(
        dispatched.append, 50, 0.1, call_after=timer.call_after, busy=lambda n: busy[0], key=account
    )
    batcher.add((0, 1))
    assert [(0, 1)] == dispatched and [] == timer.pending
    busy[0] = True  # (0, 1) is running: the next ones wait
    batcher.add((1, 2))
    batcher.add((2, 1))
    assert [(0, 1)] == dispatched
    busy[0] = False
    timer.pending[-1].fun()
    assert [(0, 1), (2, 1), (1, 2)] == dispatched  # account 1 is on the terminal: its group first


def test_groups_by_first_arrival_and_keeps_fifo_inside_each_group() -> None:
    arrivals = ["a1", "b1", "a2", "c1", "b2", "a3"]
    assert ["a1", "a2", "a3", "b1", "b2", "c1"] == batch_order(arrivals, key=lambda s: s[0])
    assert ["b1", "b2", "a1", "a2", "a3", "c1"] == batch_order(arrivals, key=lambda s: s[0], first="b")


def test_the_window_leaves_the_moment_the_running_request_completes() -> None:
    timer, dispatched, busy = _ManualTimer(), [], [False]
    batcher = AccountBatcher(
        dispatched.append, 50, 0.1, call_after=timer.call_after, busy=lambda n: busy[0], key=lambda r: r.item[1]
    )
    first = _Request(0, 1)
    batcher.add(first)
    busy[0] = True
    batcher.add(_Request(1, 2))
    batcher.add(_Request(2, 1))
    assert [(0, 1)] == [r.item for r in dispatched]
    busy[0] = False
    first.on_success()  # no tick needed
    assert [(0, 1), (2, 1), (1, 2)] == [r.item for r in dispatched]


def test_a_partial_window_waits_while_the_terminal_is_busy_and_leaves_once_it_is_free() -> None:
    timer, dispatched, busy = _ManualTimer(), [], [True]
    batcher = AccountBatcher(
        dispatched.append, 50, 0.1, call_after=timer.call_after, busy=lambda n: busy[0], key=account
    )
    batcher.add((0, 1))
    batcher.add((1, 2))
    assert [] == dispatched and 1 == len(timer.pending)
    timer.pending[-1].fun()  # max_delay later, the terminal is still busy: look again later
    assert [] == dispatched and 2 == len(timer.pending)
    busy[0] = False
    timer.pending[-1].fun()  # free: the partial window leaves
    assert [(0, 1), (1, 2)] == dispatched


def test_no_request_is_overtaken_by_more_than_window_minus_one_later_arrivals() -> None:
    rng = random.Random(7)
    for _ in range(300):
        window = rng.randint(1, 12)
        arrivals = [(i, rng.randint(1, 4)) for i in range(rng.randint(1, 60))]
        dispatched: list[tuple[int, int]] = []
        batcher = AccountBatcher(dispatched.append, window, 1.0, call_after=lambda *_: None, key=account)
        for request in arrivals:
            batcher.add(request)
        batcher.flush()  # the max-delay timer, for the last partial window
        assert sorted(dispatched) == arrivals  # every request exactly once
        for n in range(0, len(arrivals), window):  # each window leaves grouped: one run per account
            accounts = [a for _, a in dispatched[n : n + window]]
            changes = sum(x != y for x, y in itertools.pairwise(accounts))
            assert changes == len(set(accounts)) - 1
        position = {request: n for n, request in enumerate(dispatched)}
        for request in arrivals:
            overtaken_by = [r for r in arrivals if r[0] > request[0] and position[r] < position[request]]
            assert len(overtaken_by) <= window - 1
