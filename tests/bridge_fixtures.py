"""A real ``mt5-worker bridge`` hosting the simulator, in a subprocess on a free loopback port.

- :class:`BridgeProcess` is the harness's bridge (:class:`harness.processes.BridgeProcess`: random token,
  JSON log, kill, pause, restart on the same port) with simulator control on by default.
- :class:`RemoteSimulator` is a :class:`BridgeTerminal` to it with :class:`SimulatedTerminal`'s test API
  (``inject_fault``, ``crash``, ``calls``, ``max_concurrent_calls``, ``active_login``, ``accounts``,
  ``reset_counters``, ``clear_faults``, ``algo_trading``, ``enable_algo_trading``), so a test written against
  ``sim`` runs over the bridge unchanged. The bridge's simulated trade servers are the session's
  (:func:`harness.env.trade_store`), which a test reads with a :class:`~mt5_worker.simulator.trade_store.TradeStore`.
- Fixtures: ``bridge_process`` (one per session), ``bridge_sim`` (a fresh remote simulator per test),
  ``bridge_terminal_factory`` (more clients of the session bridge), ``bridge_factory`` (dedicated bridges a
  test may kill or configure). Every process started here is killed at teardown.
- :func:`terminal_tests` and :func:`bridged_sim_factory`: an integration module runs a unit module's tests of
  ``sim`` and ``make_manager`` again, on a simulator behind the session's bridge.
"""

from __future__ import annotations

import inspect
import signal
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from harness import processes
from mt5_worker.bridge.simulator_control import ACCOUNT_ROW_FIELDS, account_row
from mt5_worker.bridge.terminal import BridgeTerminal
from mt5_worker.codes import RES_E_INTERNAL_FAIL_SEND
from mt5_worker.simulator.specs import AccountSpec


class BridgeProcess(processes.BridgeProcess):
    """The harness's bridge, with simulator control unless told otherwise: the tests drive its simulator."""

    def __init__(self, log_dir: Path, *, simulator_control: bool = True, **kwargs: Any) -> None:
        super().__init__(log_dir, simulator_control=simulator_control, **kwargs)

    def simulator(self, *, timeout: float = 10.0, **kwargs: Any) -> RemoteSimulator:
        return RemoteSimulator(self.host, self.port, self.token, timeout=timeout, **kwargs)


class RemoteSimulator(BridgeTerminal):
    """A bridge client with :class:`SimulatedTerminal`'s test API, for bridges run with simulator control.

    The port functions go through the bridge like any worker's; the test API calls the bridge's ``sim_*``
    functions on the same connection. Its ``backend`` is ``"bridge"``.
    """

    def reset(
        self, accounts: Iterable[AccountSpec] | None = None, *, latency: Mapping[str, float] | None = None
    ) -> RemoteSimulator:
        """Replace the remote simulator by a fresh one (the equivalent of ``SimulatedTerminal(accounts, ...)``)."""
        rows = None if accounts is None else tuple(account_row(a) for a in accounts)
        self.control("reset", rows, tuple((latency or {}).items()))  # no latency unless asked, like the class
        return self

    @property
    def accounts(self) -> tuple[AccountSpec, ...]:
        rows = self.control("accounts")
        return tuple(AccountSpec.model_validate(dict(zip(ACCOUNT_ROW_FIELDS, row, strict=True))) for row in rows)

    @property
    def active_login(self) -> int | None:
        login: int | None = self.control("active_login")
        return login

    @property
    def calls(self) -> Counter[str]:
        """A snapshot of the remote simulator's per-function call counts."""
        return Counter(dict(self.control("calls")))

    @property
    def max_concurrent_calls(self) -> int:
        return int(self.control("max_concurrent_calls"))

    def inject_fault(
        self, function: str, *, fail_first: int = 0, rate: float = 0.0, code: int = -10004, after: bool = False
    ) -> None:
        self.control("inject_fault", function, fail_first, rate, code, after)

    @property
    def algo_trading(self) -> bool:
        return bool(self.control("algo_trading"))

    def enable_algo_trading(self) -> None:
        self.control("enable_algo_trading")

    def clear_faults(self) -> None:
        self.control("clear_faults")

    def crash(self, code: int = RES_E_INTERNAL_FAIL_SEND) -> None:
        self.control("crash", code)

    def reset_counters(self) -> None:
        self.control("reset_counters")


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bridge_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    """One bridge for the session, hosting the simulator with simulator control."""
    bridge = BridgeProcess(tmp_path_factory.mktemp("bridge"))
    try:
        yield bridge.start()
    finally:
        bridge.stop()


@pytest.fixture
def bridge_sim(bridge_process: BridgeProcess) -> Iterator[RemoteSimulator]:
    """A fresh simulator (demo accounts, no latency, no faults) behind the session bridge."""
    if not bridge_process.running:  # a test killed it: start it again rather than fail every later test
        bridge_process.start()
    sim = bridge_process.simulator().reset()
    try:
        yield sim
    finally:
        sim.close()


@pytest.fixture
def bridge_terminal_factory(bridge_process: BridgeProcess) -> Iterator[Callable[..., BridgeTerminal]]:
    """More clients of the session bridge: ``factory(timeout=..., token=...)``; closed at teardown."""
    made: list[BridgeTerminal] = []

    def make(**kwargs: Any) -> BridgeTerminal:
        made.append(bridge_process.terminal(**kwargs))
        return made[-1]

    try:
        yield make
    finally:
        for terminal in made:
            terminal.close()


@pytest.fixture
def bridge_factory(tmp_path: Path) -> Iterator[Callable[..., BridgeProcess]]:
    """Dedicated bridges for one test (to kill, restart or configure): ``factory(env=..., ...)``, started."""
    started: list[BridgeProcess] = []

    def make(**kwargs: Any) -> BridgeProcess:
        started.append(BridgeProcess(tmp_path, **kwargs))
        return started[-1].start()

    try:
        yield make
    finally:
        for bridge in started:
            bridge.stop(signal.SIGKILL)


TERMINAL_FIXTURES = frozenset({"sim", "sim_factory", "make_manager"})


def terminal_tests(module: ModuleType) -> dict[str, Any]:
    """The tests of a unit module that take the terminal under test (``sim``, ``sim_factory``, ``make_manager``),
    for an integration module to run again with a ``sim_factory`` of its own: ``globals().update(...)``."""
    return {
        name: test
        for name, test in vars(module).items()
        if name.startswith("test_") and callable(test) and TERMINAL_FIXTURES & set(inspect.signature(test).parameters)
    }


@pytest.fixture(name="sim_factory")
def bridged_sim_factory(bridge_sim: RemoteSimulator) -> Callable[..., RemoteSimulator]:
    """``sim_factory`` for an integration module: the session bridge's simulator, fresh for each test."""

    def make(accounts: list[AccountSpec] | None = None, latency: dict[str, float] | None = None) -> RemoteSimulator:
        return bridge_sim.reset(accounts, latency=latency)

    return make
