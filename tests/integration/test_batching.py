"""Account-batched serving: the ordering rule's bounds, and a real worker serving a backlog."""

from __future__ import annotations

from typing import Any

import pytest

from mt5_worker.errors import AuthorizationError
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

A, B = DEMO_ACCOUNTS[:2]


def account(request: tuple[int, int]) -> int:
    return request[1]


def _backlog(stack: Stack, queue: str, rounds: int) -> list[Any]:
    """Interleaved requests for two accounts, queued before the worker starts."""
    return [
        stack.app.send_task("mt5.account_info", kwargs={"login": a.login, "server": a.server,
                            "password": a.password.get_secret_value()}, queue=queue)
        for _ in range(rounds) for a in (A, B)
    ]  # fmt: skip


def test_a_backlog_is_served_with_one_login_per_account_per_window(simulator_stack: Stack) -> None:
    # The worker's ordering, not the terminal's: on the simulator only (the bridge adds nothing but time).
    pending = _backlog(simulator_stack, "mt5.terminal.w1@test", rounds=20)
    worker = simulator_stack.worker("w1", MT5_BATCH_WINDOW=50)
    assert [a.login for _ in range(20) for a in (A, B)] == [r.get(timeout=60)["login"] for r in pending]
    windows = worker.events("mt5.batch.dispatched")
    assert windows
    # A and B once, then at most one switch per later window (each starts on the account the terminal is on);
    # strict FIFO would log in 40 times.
    assert len(worker.sdk_calls("login")) <= min(2 + len(windows), 6)


def test_window_one_is_strict_fifo(simulator_stack: Stack) -> None:
    # The worker's ordering, not the terminal's: on the simulator only (the bridge adds nothing but time).
    pending = _backlog(simulator_stack, "mt5.terminal.w1@test", rounds=10)
    worker = simulator_stack.worker("w1", MT5_BATCH_WINDOW=1)
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
