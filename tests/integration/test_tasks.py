"""The mt5.* tasks on a real worker process over a real Redis (simulator terminal)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from billiard.exceptions import TimeLimitExceeded

from harness.processes import WorkerProcess
from mt5_worker.cli.devstack import wait_for
from mt5_worker.errors import AuthorizationError, InvalidRequestError, TransientMT5Error
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.terminal.port import AccountInfo
from tests.celery_fixtures import Stack
from tests.conftest import creds

pytestmark = pytest.mark.xdist_group(__name__)  # one shared worker per backend (shared_stack)

A, B, C = DEMO_ACCOUNTS[:3]


def test_account_info_round_trips_and_returns_the_requested_account(shared_stack: Stack) -> None:
    for account in DEMO_ACCOUNTS:
        login, password, server = creds(account)
        info = shared_stack.call("mt5.account_info", login, server, password)
        assert (login, server, account.name) == (info["login"], info["server"], info["name"])
        assert list(AccountInfo._fields) == list(info)


def test_login_returns_session_info_without_password(shared_stack: Stack) -> None:
    session = shared_stack.call("mt5.login", *creds(A))
    assert {"login", "server", "pooled", "active", "last_used", "created", "uses"} == set(session)
    assert (A.login, A.server, True, True) == (
        session["login"],
        session["server"],
        session["pooled"],
        session["active"],
    )


def test_a_second_request_for_the_active_login_makes_no_sdk_login_call(shared_stack: Stack) -> None:
    worker = shared_stack.workers[0]
    shared_stack.call("mt5.login", *creds(B))  # A is not the active account
    before = shared_stack.call("mt5.pool_stats")["metrics"]
    since = worker.log_size()
    shared_stack.call("mt5.account_info", A.login, A.server, A.password.get_secret_value())
    shared_stack.call("mt5.account_info", A.login)
    shared_stack.call("mt5.account_info", A.login, A.server, A.password.get_secret_value())
    assert 1 == len(worker.sdk_calls("login", since=since, login=A.login))
    assert 3 == len(worker.sdk_calls("account_info", since=since))
    metrics = shared_stack.call("mt5.pool_stats")["metrics"]
    assert (1, 2) == (metrics["logins"] - before["logins"], metrics["reuses"] - before["reuses"])


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("10000001", "MetaQuotes-Demo", "demo-10000001"), "login"),
        ((0, "MetaQuotes-Demo", "demo-10000001"), "login"),
        ((10000001, "", "demo-10000001"), "server"),
        ((10000001, "MetaQuotes-Demo", 1234), "password"),
        ((10000009,), "no session"),  # an account no test logs in: no pooled session to answer without a password
    ],
)
def test_invalid_arguments_fail_at_once_without_any_sdk_call(shared_stack: Stack, args: tuple, field: str) -> None:
    worker = shared_stack.workers[0]
    since = worker.log_size()
    started = time.monotonic()
    with pytest.raises(InvalidRequestError, match=field) as caught:
        shared_stack.call("mt5.account_info", *args)
    assert time.monotonic() - started < 5  # failed, not retried with backoff
    assert -2 == caught.value.code
    assert [] == worker.sdk_calls("login", since=since) + worker.sdk_calls("account_info", since=since)
    assert "Retry in" not in worker.log_text(since=since)


def test_auth_failure_is_not_retried(shared_stack: Stack) -> None:
    worker = shared_stack.workers[0]
    since = worker.log_size()
    with pytest.raises(AuthorizationError) as caught:
        shared_stack.call("mt5.login", C.login, "wrong-password", C.server)
    assert (-6, "Terminal: Authorization failed") == (caught.value.code, caught.value.message)
    assert 1 == len(worker.sdk_calls("login", since=since))
    assert "Retry in" not in worker.log_text(since=since)


def test_transient_login_failures_are_retried_by_celery_after_1_2_4_seconds(simulator_stack: Stack) -> None:
    """Six injected IPC timeouts: the first request exhausts its 4 attempts, the second succeeds on its 3rd."""
    # Celery's retry schedule, whatever the terminal: on the simulator only (test_bridge covers the codes).
    worker = simulator_stack.worker(MT5_SIMULATOR_FAULTS={"login": {"fail_first": 6, "code": -10005}})
    started = time.monotonic()
    pending = simulator_stack.app.send_task("mt5.login", args=creds(A))
    # The worker is free while the retry waits in the broker: another task is served meanwhile.
    assert simulator_stack.backend == simulator_stack.call("mt5.health", timeout=5)["backend"]
    assert time.monotonic() - started < 4
    with pytest.raises(TransientMT5Error) as caught:
        pending.get(timeout=30)
    assert (-10005, "IPC timeout") == (caught.value.code, caught.value.message)
    assert time.monotonic() - started >= 7  # waits of 1 + 2 + 4 s
    assert 4 == len(worker.sdk_calls("login", ok=False))
    assert [1, 2, 3, 4] == [c["attempt"] for c in worker.sdk_calls("login")]
    for countdown in ("Retry in 1s", "Retry in 2s", "Retry in 4s"):
        assert countdown in worker.log_text()

    session = simulator_stack.call("mt5.login", *creds(B))  # fails twice more, then succeeds on attempt 3
    assert (B.login, True) == (session["login"], session["active"])
    metrics = simulator_stack.call("mt5.pool_stats")["metrics"]
    assert (5, {"-10005": 6}) == (metrics["retries"], metrics["failures_by_code"])
    assert metrics["last_failure_at"] is not None


def test_health_reports_the_terminal(shared_stack: Stack) -> None:
    worker = shared_stack.workers[0]
    health = shared_stack.call("mt5.health")
    assert (True, shared_stack.backend, worker.nodename) == (
        health["initialized"], health["backend"], health["worker_id"]
    )  # fmt: skip
    assert 500 == health["version"][0]
    shared_stack.call("mt5.login", *creds(A))
    assert shared_stack.call("mt5.health")["connected"] is True


def test_pool_stats_has_metrics_and_the_sessions_redis_knows(shared_stack: Stack) -> None:
    shared_stack.call("mt5.login", *creds(A))
    shared_stack.call("mt5.login", *creds(B))
    stats = shared_stack.call("mt5.pool_stats")
    known = [s["login"] for s in stats["redis_sessions"]]
    assert {A.login, B.login} <= set(known) and sorted(known) == sorted(s["login"] for s in stats["pool"])
    assert (len(known), 20, B.login, True) == (
        stats["metrics"]["pool_size"], stats["metrics"]["pool_capacity"], stats["metrics"]["active_login"],
        stats["redis_available"],
    )  # fmt: skip


def test_a_slow_terminal_start_does_not_block_worker_process_init(simulator_stack: Stack) -> None:
    """initialize() takes 6 s, beyond prefork's 4 s limit for a new child's worker_process_init.

    The limit applies to children the pool starts once running, so the test kills the first child: its
    replacement must come up (a blocking init would be killed again and again) and serve the request.
    """
    # The pool's start-up limit, whatever the terminal: on the simulator only.
    worker = simulator_stack.worker(MT5_SIMULATOR_LATENCY={"initialize": 6})
    first = wait_for(lambda: (h := simulator_stack.call("mt5.health"))["initialized"] and h, 30, "the first initialize")
    os.kill(first["pid"], signal.SIGKILL)
    info = simulator_stack.call("mt5.account_info", A.login, A.server, A.password.get_secret_value(), timeout=40)
    assert A.login == info["login"]
    assert first["pid"] != simulator_stack.call("mt5.health")["pid"]
    assert 2 == len(worker.sdk_calls("initialize"))
    assert "Timed out waiting for UP message" not in worker.log_text()


def test_a_crashed_terminal_is_reinitialized_by_the_manager_not_by_a_task(stack: Stack) -> None:
    worker = stack.worker(MT5_SIMULATOR_FAULTS={"account_info": {"fail_first": 1, "code": -10001}})
    info = stack.call("mt5.account_info", A.login, A.server, A.password.get_secret_value(), timeout=20)
    assert A.login == info["login"]
    assert 2 == len(worker.sdk_calls("initialize"))
    assert "Retry in 1s" in worker.log_text()


def test_beat_evicts_an_idle_session_while_the_terminal_stays_initialized(stack: Stack) -> None:
    worker = stack.worker(MT5_CONNECTION_IDLE_TIMEOUT=2, MT5_IDLE_SWEEP_INTERVAL=1)
    stack.beat(MT5_CONNECTION_IDLE_TIMEOUT=2, MT5_IDLE_SWEEP_INTERVAL=1)
    session = stack.call("mt5.login", *creds(A))
    stats = wait_for(lambda: (s := stack.call("mt5.pool_stats"))["metrics"]["idle_evictions"] and s, 15, "eviction")
    (evicted,) = worker.events("mt5.sessions.evicted", reason="idle")
    evicted_at = time.mktime(time.strptime(evicted["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert evicted_at - int(session["last_used"]) >= 2
    assert ([A.login], 0, []) == (evicted["logins"], stats["metrics"]["pool_size"], stats["redis_sessions"])
    assert stack.call("mt5.health")["initialized"] is True
    assert 1 == len(worker.sdk_calls("initialize"))
    assert 0 == len(worker.sdk_calls("shutdown"))


def test_two_workers_each_sweep_their_own_sessions(simulator_stack: Stack) -> None:
    # Each worker's own index in Redis, not the terminal: on the simulator only (the bridge adds nothing but time).
    settings = {"MT5_CONNECTION_IDLE_TIMEOUT": 2, "MT5_IDLE_SWEEP_INTERVAL": 1}
    w1, w2 = simulator_stack.worker("w1", **settings), simulator_stack.worker("w2", **settings)
    simulator_stack.call("mt5.login", *creds(A), queue=w1.queue)
    simulator_stack.call("mt5.login", *creds(B), queue=w2.queue)
    simulator_stack.call("mt5.login", *creds(C), queue=w2.queue)
    simulator_stack.beat(**settings)

    def evicted(worker: WorkerProcess) -> list[int]:
        return sorted(login for e in worker.events("mt5.sessions.evicted", reason="idle") for login in e["logins"])

    for worker, logins in ((w1, [A.login]), (w2, [B.login, C.login])):
        # B and C were used a moment apart: one sweep may evict B while C is not yet idle, the next one C.
        wanted = len(logins)
        wait_for(lambda w=worker, n=wanted: len(evicted(w)) >= n, 15, f"{worker.nodename} sweep")
        assert logins == evicted(worker)
        stats = simulator_stack.call("mt5.pool_stats", queue=worker.queue)
        assert (worker.nodename, 0, []) == (stats["worker_id"], stats["metrics"]["pool_size"], stats["redis_sessions"])


def test_a_restarted_worker_drops_sessions_redis_still_lists(stack: Stack) -> None:
    worker = stack.worker("w1")
    stack.call("mt5.login", *creds(A))
    stack.call("mt5.login", *creds(B))
    assert 2 == len(stack.call("mt5.pool_stats")["redis_sessions"])
    worker.process.stop(sig=9)  # no clean shutdown
    stack.worker("w1")
    stats = wait_for(lambda: (s := stack.call("mt5.pool_stats")) and not s["redis_sessions"] and s, 10, "reconcile")
    assert (0, True) == (stats["metrics"]["pool_size"], stats["redis_available"])


def test_a_stuck_terminal_call_is_ended_by_the_hard_time_limit_and_the_worker_recovers(stack: Stack) -> None:
    worker = stack.worker(MT5_TASK_TIME_LIMIT=2, MT5_SIMULATOR_LATENCY={"login": 6})
    first_child = stack.call("mt5.health")["pid"]
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        stack.call("mt5.login", *creds(A), timeout=20)
    assert time.monotonic() - started < 6
    # A new child answers at once, even while (over the bridge) the terminal still finishes the stuck call.
    health = stack.call("mt5.health", timeout=30)
    assert first_child != health["pid"]
    assert "Hard time limit (2s) exceeded" in worker.log_text()
