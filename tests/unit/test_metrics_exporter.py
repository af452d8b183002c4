"""A worker process's Prometheus exporter in-process: the manager's counters read at scrape time, no SDK call, no wait
behind a terminal call, separate series per exporter, the port setting."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mt5_worker.errors import AuthorizationError, SettingsError, TransientMT5Error
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.worker.metrics import ManagerMetrics
from tests.conftest import creds, simulator

A, B = DEMO_ACCOUNTS[:2]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def manager(settings_factory: Callable[..., Settings]) -> MT5ConnectionManager:
    return MT5ConnectionManager(simulator(), settings_factory(), sleep=lambda _: None)


def test_exporter_reads_the_managers_counters_at_scrape_time(manager: MT5ConnectionManager) -> None:
    exporter = ManagerMetrics(manager, "w-unit")
    before = samples(exporter.render().decode())
    assert (0, 0, 20) == (
        value(before, "mt5_logins_total"),
        value(before, "mt5_terminal_initialized"),
        value(before, "mt5_pool_capacity"),
    )

    manager.initialize()
    manager.login(*creds(A))
    manager.login(*creds(B))
    manager.login(*creds(A))  # a switch back into a pooled session
    manager.get_account_info(A.login)  # a reuse
    with pytest.raises(AuthorizationError):
        manager.login(DEMO_ACCOUNTS[2].login, "wrong", DEMO_ACCOUNTS[2].server)

    after = samples(exporter.render().decode())
    assert 1 == value(after, "mt5_worker_info", worker_id="w-unit", backend="simulator")
    assert (4, 1, 1, 1) == (
        value(after, "mt5_logins_total"),
        value(after, "mt5_switches_total"),
        value(after, "mt5_reuses_total"),
        value(after, "mt5_initializations_total"),
    )
    assert (2, 1, 1) == (
        value(after, "mt5_pool_sessions"),
        value(after, "mt5_terminal_initialized"),
        value(after, "mt5_failures_total", code="-6"),
    )
    assert (0, 0) == (
        value(after, "mt5_evictions_total", reason="idle"),
        value(after, "mt5_evictions_total", reason="lru"),
    )
    assert value(after, "mt5_last_failure_timestamp_seconds") == manager.metrics().last_failure_at
    assert 4 == value(after, "mt5_sdk_call_duration_seconds_count", function="login")
    assert 1 == value(after, "mt5_sdk_call_duration_seconds_count", function="initialize")


def test_two_exporters_do_not_share_series(settings_factory: Callable[..., Settings]) -> None:
    one, two = (MT5ConnectionManager(simulator(), settings_factory()) for _ in range(2))
    exporters = ManagerMetrics(one, "one"), ManagerMetrics(two, "two")
    one.initialize()
    one.login(*creds(A))
    assert [1, None] == [
        value(samples(e.render().decode()), "mt5_sdk_call_duration_seconds_count", function="login") for e in exporters
    ]


def test_a_scrape_does_not_wait_behind_a_long_terminal_call(manager: MT5ConnectionManager) -> None:
    """While a call holds the terminal, the scrape reports busy and the last known connection state."""
    exporter = ManagerMetrics(manager, "w-busy")
    manager.login(*creds(A))  # logged in: the terminal is connected to its trade server
    assert 1 == value(samples(exporter.render().decode()), "mt5_terminal_connected")

    holding, release = threading.Event(), threading.Event()

    def long_call() -> None:
        with manager.acquire():
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=long_call)
    thread.start()
    try:
        assert holding.wait(10)
        during = samples(exporter.render().decode())  # would hang here (test timeout) if it queued for the lock
    finally:
        release.set()
        thread.join()
    assert (1, 1, 1) == (
        value(during, "mt5_terminal_busy"),
        value(during, "mt5_terminal_connected"),
        value(during, "mt5_terminal_initialized"),
    )
    assert 0 == value(samples(exporter.render().decode()), "mt5_terminal_busy")


def test_a_scrape_makes_no_sdk_call_and_reports_what_the_managers_calls_learnt(
    settings_factory: Callable[..., Settings],
) -> None:
    """Connection state comes from the calls tasks make anyway (login, health); a scrape only reads it."""
    sim = simulator()
    manager = MT5ConnectionManager(sim, settings_factory(), sleep=lambda _: None)
    exporter = ManagerMetrics(manager, "w-quiet")

    def quiet_scrape() -> tuple[float | None, float | None]:
        before = dict(sim.calls)
        found = samples(exporter.render().decode())
        assert before == dict(sim.calls)  # not even last_error()
        return value(found, "mt5_terminal_initialized"), value(found, "mt5_terminal_connected")

    assert (0, 0) == quiet_scrape()
    manager.initialize()
    assert (1, 0) == quiet_scrape()  # up, but no account logged in yet: no trade server
    manager.login(*creds(A))
    assert (1, 1) == quiet_scrape() == quiet_scrape()
    with pytest.raises(AuthorizationError):
        manager.login(B.login, "wrong", B.server)  # a refused login leaves the terminal with no account
    assert (1, 0) == quiet_scrape()
    manager.login(*creds(A))
    assert (1, 1) == quiet_scrape()

    sim.login(B.login, "wrong", B.server)  # the terminal drops its account behind the manager's back:
    assert (1, 1) == quiet_scrape()  # the last known state, until a call says otherwise
    assert False is manager.health().connected
    assert (1, 0) == quiet_scrape()
    manager.login(*creds(A))

    sim.crash()
    with pytest.raises(TransientMT5Error):
        manager.get_account_info(A.login)
    assert (0, 0) == quiet_scrape()
    manager.get_account_info(A.login)  # initializes again, logs in again
    assert (1, 1) == quiet_scrape()
    manager.shutdown()
    assert (0, 0) == quiet_scrape()


@pytest.mark.parametrize(("raw", "expected"), [("", 0), ("0", 0), ("9464", 9464), ("65535", 65535)])
def test_metrics_port_setting(monkeypatch: pytest.MonkeyPatch, raw: str, expected: int) -> None:
    monkeypatch.setenv("MT5_METRICS_PORT", raw)
    assert expected == Settings.load(_env_file=None).metrics_port


@pytest.mark.parametrize("raw", ["-1", "65536", "http"])
def test_metrics_port_out_of_range_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("MT5_METRICS_PORT", raw)
    with pytest.raises(SettingsError, match="MT5_METRICS_PORT"):
        Settings.load(_env_file=None)
