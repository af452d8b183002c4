"""Shared fixtures. Celery's own pytest plugin is used (pytest-celery's docker fixtures are disabled)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from harness.env import CLOCK_OFFSET, PINS, clock_offset, pinned_offset, trade_store
from mt5_worker.logging import reset_logging
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.simulator.specs import AccountSpec
from mt5_worker.worker.settings import worker_settings
from tests.bridge_fixtures import (  # noqa: F401  (fixtures)
    RemoteSimulator,
    bridge_factory,
    bridge_process,
    bridge_sim,
    bridge_terminal_factory,
)
from tests.celery_fixtures import (  # noqa: F401  (fixtures)
    brokers_stack,
    private_redis_server,
    rabbitmq_vhosts,
    redis_url,
    shared_stack,
    simulator_stack,
    stack,
)


class ManualClock:
    """A clock tests move by hand; ``sleep`` records the wait and advances time instead of blocking."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def creds(account: AccountSpec) -> tuple[int, str, str]:
    return account.login, account.password.get_secret_value(), account.server


def make_accounts(n: int, server: str = "Test-Server") -> list[AccountSpec]:
    return [
        AccountSpec(login=500_000 + i, password=SecretStr(f"pw-{i}-{'x' * 8}"), server=server, name=f"Acct {i}")
        for i in range(n)
    ]


# Fixtures that start processes. A test that uses one (directly or through another fixture), or is marked
# ``integration`` because it starts processes of its own, is an integration test and lives in tests/integration;
# every other test is a unit test (`make test-unit` runs those) and lives in tests/unit. Collection fails on a test
# in the wrong folder.
PROCESS_FIXTURES = frozenset(
    {"redis_url", "private_redis_server", "stack", "shared_stack", "simulator_stack", "bridge_factory",
     "bridge_process", "bridge_sim", "bridge_terminal_factory", "brokers_stack", "rabbitmq_vhosts"}
)  # fmt: skip
INTEGRATION_FOLDER = Path(__file__).resolve().parent / "integration"


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("dist", default=None) == "loadgroup" and not _xdist_can_group():
        # The modules that share one stack per module would each start it in every xdist process, and their
        # tests would interleave: slower, and not what they were written for.
        raise pytest.UsageError(
            "pytest-xdist's --dist loadgroup does not group with this pytest (pytest-dev/pytest-xdist#1386): "
            "install the versions pyproject.toml's dev extras pin (make test does)"
        )


def _xdist_can_group() -> bool:
    """pytest-xdist groups by appending ``@group`` to an item's ``_nodeid``; whether ``nodeid`` still reads it."""
    probe = object.__new__(pytest.Function)
    probe._nodeid = "probe@group"  # type: ignore[attr-defined]
    try:
        return probe.nodeid == "probe@group"
    except AttributeError:
        return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        integration = item.get_closest_marker("integration") is not None or bool(fixtures & PROCESS_FIXTURES)
        item.add_marker(pytest.mark.integration if integration else pytest.mark.unit)
        if integration != (INTEGRATION_FOLDER in Path(str(item.fspath)).resolve().parents):
            misplaced.append(f"{item.nodeid}: {'starts processes' if integration else 'in-process'}")
    if misplaced:
        raise pytest.UsageError(
            "tests in the wrong folder (integration tests start processes and live in tests/integration, unit tests"
            " do not and live in tests/unit):\n  " + "\n  ".join(misplaced)
        )
    items.sort(key=_start_order)


# The modules whose tests run longest, longest first: xdist hands out work in collection order, so these start
# while the short tests fill the gaps, instead of one of them starting last and running alone at the end. A
# module that is one xdist group runs in one process from start to end: those lead.
LONG_FIRST = (
    "test_tasks", "test_client", "test_brokers", "test_observability", "test_account_tasks", "test_market_tasks",
    "test_reliability", "test_bench", "test_capacity", "test_example_streams", "test_feed", "test_fastapi_example",
    "test_cli_call", "test_stream_clients", "test_desk_calls_on_workers", "test_order_interleavings_on_workers",
)  # fmt: skip


def _start_order(item: pytest.Item) -> int:
    module = Path(str(item.fspath)).stem
    return LONG_FIRST.index(module) if module in LONG_FIRST else len(LONG_FIRST)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's MT5_* variables or structlog configuration of another test; simulated terminals
    made from settings trade on this session's own store, as the harness's processes do."""
    import os

    for name in list(os.environ):
        if name.startswith(("MT5_", "CELERY_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MT5_SIMULATOR_TRADE_STORE", str(trade_store()))
    monkeypatch.setenv(CLOCK_OFFSET, str(clock_offset()))
    reset_logging()
    worker_settings.cache_clear()  # a test's settings never leak into the next one's worker code
    yield
    reset_logging()
    worker_settings.cache_clear()


@pytest.fixture(autouse=True)
def _simulators_on_the_pinned_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every simulated terminal a test makes runs on one of the harness's pinned clocks (a weekday's trading hour,
    or a weekend for tests about closed markets), unless the test drives a clock of its own: nothing may depend on
    the real weekday or hour. Processes get theirs from ``harness.env.child_env``
    (tests/integration/test_pinned_clock.py)."""
    made: list[SimulatedTerminal] = []
    original = SimulatedTerminal.__init__

    def recording_init(self: SimulatedTerminal, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if "clock" not in kwargs:
            made.append(self)

    monkeypatch.setattr(SimulatedTerminal, "__init__", recording_init)
    yield
    pinned = {pinned_offset(pin) for pin in PINS}
    unpinned = [sim for sim in made if sim.clock_offset not in pinned]
    assert not unpinned, (
        f"{len(unpinned)} simulated terminal(s) on an unpinned clock (offset {unpinned[0].clock_offset}): pass "
        "clock_offset=harness.env.clock_offset() (or a clock of the test's own)"
    )


def simulator(accounts: list[AccountSpec] | None = None, **kwargs: Any) -> SimulatedTerminal:
    """A simulated terminal on the pinned clock (``harness.env.clock_offset``), as the suite's processes run."""
    return SimulatedTerminal(accounts, **({"clock_offset": clock_offset()} | kwargs))


@pytest.fixture
def settings_factory() -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return Settings.load(_env_file=None, **overrides)

    return make


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


SimFactory = Callable[..., "SimulatedTerminal | RemoteSimulator"]


@pytest.fixture
def sim_factory() -> SimFactory:
    """Build the terminal under test: an in-process simulator on the pinned clock. The tests of ``sim`` and
    ``make_manager`` run again on a simulator behind a real bridge process in tests/integration, which re-export
    them with a ``sim_factory`` of their own (:func:`tests.bridge_fixtures.terminal_tests`)."""

    def make(accounts: list[AccountSpec] | None = None, latency: dict[str, float] | None = None) -> Any:
        return simulator(accounts, latency=latency)

    return make


@pytest.fixture
def sim(sim_factory: SimFactory) -> SimulatedTerminal | RemoteSimulator:
    return sim_factory()


@pytest.fixture
def demo() -> tuple[AccountSpec, ...]:
    return DEMO_ACCOUNTS


@pytest.fixture
def make_manager(
    sim: SimulatedTerminal, clock: ManualClock, settings_factory: Callable[..., Settings]
) -> Callable[..., MT5ConnectionManager]:
    """A manager on the ``sim`` terminal (or another), with the manual clock and sleep."""

    def make(terminal: Any = None, **overrides: Any) -> MT5ConnectionManager:
        return MT5ConnectionManager(
            terminal if terminal is not None else sim, settings_factory(**overrides), clock=clock, sleep=clock.sleep
        )

    return make
