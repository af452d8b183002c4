"""Account-batched serving: the ordering rule's bounds, and a real worker serving a backlog."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from mt5_worker.errors import AuthorizationError
from mt5_worker.simulator.terminal import DEMO_ACCOUNTS
from mt5_worker.worker.batching import AccountBatcher, batch_order
from tests.celery_fixtures import Stack

A, B = DEMO_ACCOUNTS[:2]


def account(request: tuple[int, int]) -> int:
    return request[1]


def test_groups_by_first_arrival_and_keeps_fifo_inside_each_group() -> None:
    arrivals = ["a1", "b1", "a2", "c1", "b2", "a3"]
    assert ["a1", "a2", "a3", "b1", "b2", "c1"] == batch_order(arrivals, key=lambda s: s[0])
    assert ["b1", "b2", "a1", "a2", "a3", "c1"] == batch_order(arrivals, key=lambda s: s[0], first="b")


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


def _backlog(stack: Stack, queue: str, rounds: int) -> list[Any]:
    """Interleaved requests for two accounts, queued before the worker starts."""
    return [
        stack.app.send_task("mt5.account_info", kwargs={"login": a.login, "server": a.server,
                            "password": a.password.get_secret_value()}, queue=queue)
        for _ in range(rounds) for a in (A, B)
    ]  # fmt: skip


def test_a_backlog_is_served_with_one_login_per_account_per_window(stack: Stack) -> None:
    pending = _backlog(stack, "mt5.terminal.w1@test", rounds=20)
    worker = stack.worker("w1", MT5_BATCH_WINDOW=50)
    assert [a.login for _ in range(20) for a in (A, B)] == [r.get(timeout=60)["login"] for r in pending]
    windows = worker.events("mt5.batch.dispatched")
    assert windows
    # A and B once, then at most one switch per later window (each starts on the account the terminal is on);
    # strict FIFO would log in 40 times.
    assert len(worker.sdk_calls("login")) <= min(2 + len(windows), 6)


def test_window_one_is_strict_fifo(stack: Stack) -> None:
    pending = _backlog(stack, "mt5.terminal.w1@test", rounds=10)
    worker = stack.worker("w1", MT5_BATCH_WINDOW=1)
    assert [a.login for _ in range(10) for a in (A, B)] == [r.get(timeout=60)["login"] for r in pending]
    assert 20 == len(worker.sdk_calls("login"))  # every request switches account
    assert [] == worker.events("mt5.batch.dispatched")


def test_a_failing_group_fails_only_its_own_requests(stack: Stack) -> None:
    queue = "mt5.terminal.w1@test"
    sent = []
    for _ in range(5):
        for account, password in ((A, A.password.get_secret_value()), (B, "Wrong-Pass-123")):
            kwargs = {"login": account.login, "server": account.server, "password": password}
            sent.append((account, stack.app.send_task("mt5.account_info", kwargs=kwargs, queue=queue)))
    stack.worker("w1", MT5_BATCH_WINDOW=50)
    for account, result in sent:
        if account is A:
            assert A.login == result.get(timeout=60)["login"]
        else:
            with pytest.raises(AuthorizationError):
                result.get(timeout=60)


class _Request:
    def __init__(self, n: int, login: int) -> None:
        self.item = (n, login)

    def on_success(self) -> None:
        pass

    def on_failure(self) -> None:
        pass


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
