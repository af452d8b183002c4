"""Prometheus metrics: the exporter over a manager, and the endpoint a real worker's child serves."""

from __future__ import annotations

import os
import signal
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mt5_worker.cli.devstack import free_port, wait_for
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack
from tests.conftest import creds, simulator
from tests.unit.test_metrics_exporter import samples, value

A, B = DEMO_ACCOUNTS[:2]


def scrape(port: int, host: str = "127.0.0.1") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        return samples(response.read().decode())


@pytest.fixture
def manager(settings_factory: Callable[..., Settings]) -> MT5ConnectionManager:
    return MT5ConnectionManager(simulator(), settings_factory(), sleep=lambda _: None)


def test_a_real_worker_serves_metrics_that_move_with_real_tasks(redis_url: str, tmp_path: Path) -> None:
    """One injected IPC timeout on login: Celery retries it, and the failure shows under its MT5 code."""
    port = free_port()
    stack = Stack(redis_url, tmp_path)
    try:
        stack.worker(MT5_METRICS_PORT=port, MT5_SIMULATOR_FAULTS={"login": {"fail_first": 1, "code": -10005}})
        before = wait_for(lambda: _try_scrape(port, initializations=1), timeout=20, what="the metrics endpoint")
        assert (0, None) == (value(before, "mt5_logins_total"), value(before, "mt5_failures_total", code="-10005"))

        stack.call("mt5.login", *creds(A))  # attempt 1 fails (-10005), attempt 2 after 1 s succeeds
        stack.call("mt5.account_info", A.login)  # served by the active session
        after = scrape(port)
        assert (2, 1, 1, 1) == (
            value(after, "mt5_logins_total"),
            value(after, "mt5_retries_total"),
            value(after, "mt5_reuses_total"),
            value(after, "mt5_failures_total", code="-10005"),
        )
        assert 2 == value(after, "mt5_sdk_call_duration_seconds_count", function="login")
        assert 1 == value(after, "mt5_sdk_call_duration_seconds_count", function="account_info")
        # an IPC failure drops the terminal: the retry initializes it again (the first one is observed too)
        assert (2, 2) == (
            value(after, "mt5_sdk_call_duration_seconds_count", function="initialize"),
            value(after, "mt5_initializations_total"),
        )
        assert (1, 1, 1) == (
            value(after, "mt5_pool_sessions"),
            value(after, "mt5_terminal_connected"),
            value(after, "mt5_active_session"),
        )
        assert value(after, "mt5_last_failure_timestamp_seconds") > 0
        assert 1 == value(after, "mt5_worker_info", worker_id="w1@test", backend="simulator")

        # A killed child is replaced; the new one binds the same port and reports its own (fresh) counters.
        old_pid = stack.call("mt5.health")["pid"]
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: stack.call("mt5.health", timeout=10)["pid"] != old_pid, timeout=30, what="a new child")
        fresh = wait_for(lambda: _try_scrape(port, initializations=1), timeout=20, what="the new child's endpoint")
        assert 0 == value(fresh, "mt5_logins_total")  # the old child had 2: this is the new one speaking
    finally:
        stack.close()


def test_a_real_worker_scrape_makes_no_sdk_call(redis_url: str, tmp_path: Path) -> None:
    """Scrapes add no SDK traffic to the worker's log or its latency histogram; mt5.health's calls still show."""
    port = free_port()
    stack = Stack(redis_url, tmp_path)
    try:
        worker = stack.worker(MT5_METRICS_PORT=port)
        started = wait_for(lambda: _try_scrape(port, initializations=1), timeout=20, what="the metrics endpoint")
        assert (1, 0, 0) == (
            value(started, "mt5_terminal_initialized"),
            value(started, "mt5_terminal_connected"),  # no account logged in yet
            value(started, "mt5_terminal_busy"),
        )
        stack.call("mt5.login", *creds(A))
        logged = len(worker.events("mt5.call"))
        for _ in range(5):
            found = scrape(port)
        assert (1, 1, 0, 1) == (
            value(found, "mt5_terminal_initialized"),
            value(found, "mt5_terminal_connected"),
            value(found, "mt5_terminal_busy"),
            value(found, "mt5_active_session"),
        )
        assert [None, None] == [
            value(found, "mt5_sdk_call_duration_seconds_count", function=f) for f in ("terminal_info", "version")
        ]

        assert stack.call("mt5.health")["connected"]  # its own two SDK calls, logged after any of the scrapes'

        def since_login() -> list[dict[str, Any]] | None:
            calls = worker.events("mt5.call")[logged:]
            return calls if len(calls) >= 2 else None

        new = wait_for(since_login, timeout=10, what="mt5.health's SDK calls in the log")
        assert ["terminal_info", "version"] == [call["function"] for call in new]
        after = scrape(port)
        assert [1, 1] == [
            value(after, "mt5_sdk_call_duration_seconds_count", function=f) for f in ("terminal_info", "version")
        ]
        assert 1 == value(after, "mt5_terminal_connected")
    finally:
        stack.close()


def test_a_real_worker_binds_the_metrics_address_it_is_given(redis_url: str, tmp_path: Path) -> None:
    """MT5_METRICS_ADDR picks the interface; by default only loopback answers. 127.0.0.2 is loopback too
    (all of 127/8 is, on Linux) but a different address: answering there proves the bind was not 0.0.0.0."""
    asked, default = free_port(), free_port()
    while default == asked:  # the same port on two addresses would not be refused
        default = free_port()
    stack = Stack(redis_url, tmp_path)
    try:
        stack.worker("w1", MT5_METRICS_PORT=asked, MT5_METRICS_ADDR="127.0.0.2")
        stack.worker("w2", MT5_METRICS_PORT=default)
        wait_for(lambda: _try_scrape(asked, host="127.0.0.2"), timeout=20, what="the endpoint on 127.0.0.2")
        wait_for(lambda: _try_scrape(default), timeout=20, what="the endpoint on 127.0.0.1")
        for port, host in ((asked, "127.0.0.1"), (default, "127.0.0.2")):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host, port), timeout=5).close()
    finally:
        stack.close()


def _try_scrape(
    port: int, initializations: float | None = None, host: str = "127.0.0.1"
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
    """A scrape, once the endpoint answers (and the terminal has been initialized that many times, if given)."""
    try:
        found = scrape(port, host)
    except OSError:
        return None
    if initializations is not None and value(found, "mt5_initializations_total") != initializations:
        return None
    return found
