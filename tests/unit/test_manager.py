"""MT5ConnectionManager: lifecycle, retries, pool, eviction, serialisation, metrics, logs."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from mt5_worker.errors import (
    AccountMismatchError,
    AuthorizationError,
    InvalidRequestError,
    MT5Error,
    PermanentMT5Error,
    TransientMT5Error,
)
from mt5_worker.manager import MT5ConnectionManager, TerminalState
from mt5_worker.manager.snapshots import PoolMetrics
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from tests.conftest import ManualClock, creds, make_accounts

MakeManager = Callable[..., MT5ConnectionManager]
A, B, C = DEMO_ACCOUNTS[:3]


def test_initialize_is_idempotent(make_manager: MakeManager, sim: SimulatedTerminal) -> None:
    manager = make_manager()
    manager.initialize()
    manager.initialize()
    assert 1 == sim.calls["initialize"]
    assert TerminalState.READY == manager.state


def test_initialize_succeeds_on_attempt_3_after_waits_of_1_then_2(
    make_manager: MakeManager, sim: SimulatedTerminal, clock: ManualClock
) -> None:
    sim.inject_fault("initialize", fail_first=2, code=-10005)
    manager = make_manager()
    manager.initialize()
    assert [1, 2] == clock.sleeps
    assert 3 == sim.calls["initialize"]
    assert (2, 1) == (manager.metrics().retries, manager.metrics().initializations)


def test_initialize_exhaustion_raises_after_1_plus_limit_attempts_with_last_error(
    make_manager: MakeManager, sim: SimulatedTerminal, clock: ManualClock
) -> None:
    sim.inject_fault("initialize", fail_first=100, code=-10003)
    manager = make_manager()
    with pytest.raises(TransientMT5Error) as caught:
        manager.initialize()
    assert (-10003, 4) == (caught.value.code, caught.value.attempts)
    assert "IPC initialize failed" in caught.value.message
    assert [1, 2, 4] == clock.sleeps
    assert 4 == sim.calls["initialize"]
    assert (-10003, "IPC initialize failed, MetaTrader 5 x64 not found") == manager.get_last_error()
    assert {-10003: 4} == manager.metrics().failures_by_code
    assert clock.now == manager.metrics().last_failure_at


def test_retry_limit_and_backoff_cap_come_from_settings(
    make_manager: MakeManager, sim: SimulatedTerminal, clock: ManualClock
) -> None:
    sim.inject_fault("initialize", fail_first=100)
    manager = make_manager(retry_limit=5, retry_backoff=2, retry_backoff_max=10)
    with pytest.raises(TransientMT5Error):
        manager.initialize()
    assert [2, 4, 8, 10, 10] == clock.sleeps


def test_permanent_initialize_failure_is_not_retried(
    make_manager: MakeManager, sim: SimulatedTerminal, clock: ManualClock
) -> None:
    sim.inject_fault("initialize", fail_first=1, code=-5)
    with pytest.raises(PermanentMT5Error) as caught:
        make_manager().initialize()
    assert (-5, []) == (caught.value.code, clock.sleeps)
    assert 1 == sim.calls["initialize"]


def test_active_account_costs_no_sdk_call_and_pooled_switch_costs_one(
    make_manager: MakeManager, sim: SimulatedTerminal
) -> None:
    manager = make_manager()
    manager.login(*creds(A))
    manager.login(*creds(A))
    manager.get_account_info(A.login)
    assert 1 == sim.calls["login"]
    manager.login(*creds(B))
    manager.get_account_info(A.login)  # pooled: switched back without a password
    assert 3 == sim.calls["login"]
    metrics = manager.metrics()
    assert (3, 1, 2, 2, A.login) == (
        metrics.logins,
        metrics.switches,
        metrics.reuses,
        metrics.pool_size,
        metrics.active_login,
    )


def test_login_returns_session_info_without_password(make_manager: MakeManager, clock: ManualClock) -> None:
    info = make_manager().login(*creds(A))
    assert (A.login, A.server, True, True, clock.now, 1) == (
        info.login,
        info.server,
        info.pooled,
        info.active,
        info.last_used,
        info.uses,
    )
    assert A.password.get_secret_value() not in repr(dataclasses.asdict(info))


def test_auth_failure_is_attempted_once_and_not_pooled(make_manager: MakeManager, sim: SimulatedTerminal) -> None:
    manager = make_manager()
    with pytest.raises(AuthorizationError) as caught:
        manager.login(A.login, "wrong-password", A.server)
    assert (-6, 1) == (caught.value.code, sim.calls["login"])
    assert [] == manager.sessions()
    assert {-6: 1} == manager.metrics().failures_by_code


def test_transient_login_failure_is_one_attempt_raising_transient(
    make_manager: MakeManager, sim: SimulatedTerminal, clock: ManualClock
) -> None:
    manager = make_manager()
    manager.initialize()
    sim.inject_fault("login", fail_first=1, code=-1)
    with pytest.raises(TransientMT5Error) as caught:
        manager.login(*creds(A))
    assert (-1, 1, []) == (caught.value.code, sim.calls["login"], clock.sleeps)
    manager.login(*creds(A), attempt=2)  # the caller's retry
    assert 1 == manager.metrics().retries


def test_pool_of_two_evicts_least_recently_used_on_a_third_account(
    make_manager: MakeManager, sim: SimulatedTerminal
) -> None:
    manager = make_manager(pool_size=2)
    manager.login(*creds(A))
    manager.login(*creds(B))
    manager.login(*creds(A))  # B is now least recently used
    manager.login(*creds(C))
    assert [A.login, C.login] == [s.login for s in manager.sessions()]
    assert 1 == manager.metrics().lru_evictions
    with pytest.raises(InvalidRequestError, match="pass its password"):
        manager.login(B.login)


def test_pooled_login_may_omit_password_but_unknown_login_may_not(
    make_manager: MakeManager, sim: SimulatedTerminal
) -> None:
    manager = make_manager()
    with pytest.raises(InvalidRequestError, match=f"account {A.login} has no session"):
        manager.get_account_info(A.login)
    assert 0 == sim.calls["login"]
    manager.login(*creds(A))
    manager.login(*creds(B))
    assert A.login == manager.get_account_info(A.login).login


def test_new_login_without_server_is_a_clear_error(make_manager: MakeManager, sim: SimulatedTerminal) -> None:
    with pytest.raises(InvalidRequestError, match="pass its server"):
        make_manager().login(A.login, A.password.get_secret_value())
    assert 0 == sim.calls["login"]


def test_a_different_password_for_a_pooled_account_is_verified_not_trusted(
    make_manager: MakeManager, sim: SimulatedTerminal
) -> None:
    manager = make_manager()
    manager.login(*creds(A))
    with pytest.raises(AuthorizationError):
        manager.get_account_info(A.login, "guess", A.server)
    assert 2 == sim.calls["login"]
    assert 0 == sim.calls["account_info"]


@pytest.mark.parametrize(
    "args",
    [
        ("10000001", "pw", "MetaQuotes-Demo"),
        (True, "pw", "MetaQuotes-Demo"),
        (0, "pw", "MetaQuotes-Demo"),
        (-5, "pw", "MetaQuotes-Demo"),
        (10000001, "pw", ""),
        (10000001, "pw", "   "),
        (10000001, "", "MetaQuotes-Demo"),
        (10000001, 1234, "MetaQuotes-Demo"),
        (10000001, "pw", 7),
        (1.5, "pw", "MetaQuotes-Demo"),
    ],
)
def test_invalid_input_is_rejected_before_any_sdk_call(
    make_manager: MakeManager, sim: SimulatedTerminal, args: tuple[object, object, object]
) -> None:
    manager = make_manager()
    with pytest.raises(InvalidRequestError) as caught:
        manager.login(*args)
    assert -2 == caught.value.code
    assert 0 == sum(sim.calls.values())
    with pytest.raises(InvalidRequestError):
        manager.get_account_info(*args)
    assert 0 == sum(sim.calls.values())


def test_account_info_never_returns_another_accounts_data(make_manager: MakeManager, sim: SimulatedTerminal) -> None:
    manager = make_manager()
    manager.login(*creds(A))
    sim.login(*creds(B))  # someone switches the terminal behind the manager's back
    with pytest.raises(AccountMismatchError, match=f"asked for account {A.login}"):
        manager.get_account_info(A.login)
    assert A.login == manager.get_account_info(A.login).login  # the next request logs in again


def test_idle_eviction_at_the_timeout_boundary_keeps_then_evicts(
    make_manager: MakeManager, sim: SimulatedTerminal, clock: ManualClock
) -> None:
    manager = make_manager(idle_timeout=300)
    manager.login(*creds(A))
    used_at = clock.now
    clock.advance(100)
    manager.login(*creds(B))
    assert [] == manager.evict_idle(used_at + 300)
    assert [A.login] == manager.evict_idle(used_at + 300.001)
    assert [B.login] == manager.evict_idle(used_at + 100 + 301)
    assert (TerminalState.READY, 0, 2) == (manager.state, sim.calls["shutdown"], manager.metrics().idle_evictions)
    assert manager.metrics().active_login is None
    with pytest.raises(InvalidRequestError):
        manager.login(B.login)  # evicted: a password is needed again
    manager.login(*creds(B))
    assert 3 == sim.calls["login"]


def test_a_session_is_idle_from_the_end_of_its_last_use(
    make_manager: MakeManager, sim: SimulatedTerminal, clock: ManualClock
) -> None:
    class SlowCalls:  # the simulator, with a login() and an account_info() that take 5 s of the manager's clock
        def __getattr__(self, name: str) -> object:
            return getattr(sim, name)

        def login(self, *args: object, **kwargs: object) -> object:
            clock.advance(5)
            return sim.login(*args, **kwargs)

        def account_info(self) -> object:
            clock.advance(5)
            return sim.account_info()

    manager = make_manager(SlowCalls(), idle_timeout=10)
    manager.login(*creds(B))
    ended = clock.now
    assert [] == manager.evict_idle(ended + 10)
    assert [B.login] == manager.evict_idle(ended + 10.001)
    manager.get_account_info(*creds(A))
    ended = clock.now
    assert [] == manager.evict_idle(ended + 10)  # idle 10 s since the call ended (15 s since it began)
    assert [A.login] == manager.evict_idle(ended + 10.001)
    with manager.acquire(*creds(A)) as call:
        call("account_info")
    ended = clock.now
    assert [] == manager.evict_idle(ended + 10)
    assert [A.login] == manager.evict_idle(ended + 10.001)


def test_logins_are_the_sessions_accounts_least_recently_used_first(make_manager: MakeManager) -> None:
    manager = make_manager()
    for account in (A, B, C, A):
        manager.login(*creds(account))
    assert [B.login, C.login, A.login] == manager.logins() == [s.login for s in manager.sessions()]


def test_evict_idle_can_be_limited_to_given_logins(make_manager: MakeManager, clock: ManualClock) -> None:
    manager = make_manager(idle_timeout=10)
    manager.login(*creds(A))
    manager.login(*creds(B))
    clock.advance(11)
    assert [B.login] == manager.evict_idle(logins=[B.login, 999])
    assert [A.login] == [s.login for s in manager.sessions()]


def test_is_connected_means_initialized_and_terminal_connected(make_manager: MakeManager) -> None:
    manager = make_manager()
    assert manager.is_connected() is False
    manager.login(*creds(A))
    assert manager.is_connected() is True
    manager.shutdown()
    assert manager.is_connected() is False
    assert [] == manager.sessions()


def test_a_crashed_terminal_fails_transiently_then_is_reinitialized(
    make_manager: MakeManager, sim: SimulatedTerminal
) -> None:
    manager = make_manager()
    manager.get_account_info(*creds(A))
    sim.crash()
    with pytest.raises(TransientMT5Error) as caught:
        manager.get_account_info(A.login)
    assert (-10001, TerminalState.LOST) == (caught.value.code, manager.state)
    assert A.login == manager.get_account_info(A.login).login
    assert (2, 2) == (sim.calls["initialize"], manager.metrics().initializations)


def test_health_reports_without_starting_the_terminal(make_manager: MakeManager, sim: SimulatedTerminal) -> None:
    manager = make_manager()
    assert (False, False, sim.backend) == (
        manager.health().initialized,
        manager.health().connected,
        manager.health().backend,
    )
    assert 0 == sim.calls["initialize"]
    manager.login(*creds(A))
    report = manager.health()
    assert (True, True, (500, 4755, "20 Nov 2026")) == (report.initialized, report.connected, report.version)


def test_health_answers_busy_instead_of_queueing_behind_a_long_call(make_manager: MakeManager) -> None:
    manager = make_manager()
    manager.login(*creds(A))
    holding, release = threading.Event(), threading.Event()

    def long_call() -> None:
        with manager.acquire():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=long_call)
    thread.start()
    holding.wait(5)
    report = manager.health(wait=0.05)
    release.set()
    thread.join()
    assert (True, True, False) == (report.busy, report.initialized, report.connected)
    assert False is manager.health().busy


def test_acquire_holds_the_terminal_with_the_account_active(make_manager: MakeManager, sim: SimulatedTerminal) -> None:
    manager = make_manager()
    manager.login(*creds(A))
    with manager.acquire(A.login) as call:
        assert A.login == call("account_info").login
        sim.crash()
        with pytest.raises(TransientMT5Error):
            call("version")


def test_metrics_field_names_are_the_published_contract(make_manager: MakeManager) -> None:
    expected = [
        "pool_size", "pool_capacity", "active_login", "logins", "switches", "reuses", "idle_evictions",
        "lru_evictions", "retries", "failures_by_code", "last_failure_at", "initializations",
    ]  # fmt: skip
    assert expected == [f.name for f in dataclasses.fields(PoolMetrics)]
    assert expected == list(make_manager().metrics().as_dict())


def test_every_sdk_call_logs_outcome_and_error_code(make_manager: MakeManager, sim: SimulatedTerminal) -> None:
    manager = make_manager()
    with capture_logs() as logs:
        manager.get_account_info(*creds(A))
        with pytest.raises(AuthorizationError):
            manager.login(B.login, "bad", B.server)
    calls = [e for e in logs if e["event"] == "mt5.call"]
    assert sum(n for f, n in sim.calls.items() if f != "last_error") == len(calls)
    assert ["initialize", "login", "account_info", "login"] == [e["function"] for e in calls]
    keys = {"function", "login", "server", "duration_ms", "ok", "mt5_code", "mt5_message", "attempt"}
    assert all(keys <= set(e) for e in calls)
    assert (False, -6, "Terminal: Authorization failed", B.login, "warning") == (
        calls[-1]["ok"],
        calls[-1]["mt5_code"],
        calls[-1]["mt5_message"],
        calls[-1]["login"],
        calls[-1]["log_level"],
    )


def test_passwords_never_reach_logs_or_exception_messages(make_manager: MakeManager, sim: SimulatedTerminal) -> None:
    secret = "Sup3r-S3cret-Value"
    manager = make_manager()
    errors: list[MT5Error] = []
    with capture_logs() as logs:
        for args in [(A.login, secret, A.server), (A.login, secret, ""), ("x", secret, A.server)]:
            try:
                manager.login(*args)
            except MT5Error as exc:
                errors.append(exc)
        sim.inject_fault("login", fail_first=1)
        try:
            manager.login(B.login, secret, B.server)
        except MT5Error as exc:
            errors.append(exc)
    assert 4 == len(errors)
    text = repr(logs) + "".join(f"{e} {e!r} {e.args}" for e in errors) + repr(manager) + repr(manager.sessions())
    assert secret not in text
    assert A.password.get_secret_value() not in text


def test_concurrent_requests_are_serialised_and_never_cross_accounts(
    settings_factory: Callable[..., object], sim_factory: Callable[..., SimulatedTerminal]
) -> None:
    """8 threads x 500 mixed requests over 10 accounts: each result is the requested account, no overlap."""
    accounts = make_accounts(10)
    sim = sim_factory(accounts, latency={"login": 0.0002, "account_info": 0.0001})
    manager = MT5ConnectionManager(sim, settings_factory(pool_size=6))
    manager.initialize()
    mismatches: list[tuple[int, int]] = []
    failures: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(500):
            account = rng.choice(accounts)
            try:
                if rng.random() < 0.5:
                    got = manager.get_account_info(*creds(account)).login
                else:
                    got = manager.login(*creds(account)).login
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)
                continue
            if got != account.login:
                mismatches.append((account.login, got))

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    metrics = manager.metrics()
    assert ([], [], 1) == (failures, mismatches, sim.max_concurrent_calls)
    assert 4000 == metrics.switches + metrics.reuses + (metrics.logins - metrics.switches)
    assert metrics.logins == sim.calls["login"]


def test_every_call_hook_sees_every_sdk_call_and_a_failing_one_breaks_nothing(make_manager: MakeManager) -> None:
    manager = make_manager()
    first: list[tuple[str, bool, int]] = []
    second: list[str] = []

    def broken(*_: object) -> None:
        raise RuntimeError("observer bug")

    manager.call_hooks.append(lambda function, seconds, ok, code: first.append((function, ok, code)))
    manager.call_hooks.append(broken)
    manager.call_hooks.append(lambda function, *_: second.append(function))
    login, password, server = creds(DEMO_ACCOUNTS[0])
    with capture_logs() as logs:
        assert login == manager.get_account_info(login, password, server).login
    assert [("initialize", True, 1), ("login", True, 1), ("account_info", True, 1)] == first
    assert ["initialize", "login", "account_info"] == second
    assert 3 == sum(1 for e in logs if e["event"] == "mt5.call_hook_failed")
