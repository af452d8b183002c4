"""The bridge's simulator control: ``sim_*`` methods that reset, fault, crash and inspect a simulated terminal
behind a bridge, for tests and the fault campaign.

A mixin of :class:`~mt5_worker.bridge.service.BridgeService`; its names are allowed only with
``--allow-simulator-control`` and the simulator backend. Accounts cross as plain :func:`account_row` tuples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mt5_worker.manager.terminals import simulated_terminal
from mt5_worker.terminal.specs import AccountSpec
from mt5_worker.terminal.wire import is_plain

if TYPE_CHECKING:  # service.py imports this module, so BridgeCore is named for the type checker only
    from mt5_worker.bridge.service import BridgeCore

SIMULATOR_CONTROL = (
    "sim_reset",
    "sim_inject_fault",
    "sim_clear_faults",
    "sim_crash",
    "sim_reset_counters",
    "sim_calls",
    "sim_max_concurrent_calls",
    "sim_active_login",
    "sim_accounts",
    "sim_enable_algo_trading",
    "sim_algo_trading",
)


class SimulatorControl:
    """The ``sim_*`` methods of the bridge service."""

    # What BridgeService supplies.
    _core: BridgeCore
    _peer: str

    def exposed_sim_reset(
        self, accounts: tuple[tuple[Any, ...], ...] | None = None, latency: tuple[tuple[str, float], ...] | None = None
    ) -> None:
        """A fresh simulator (as after a restart) with these accounts (:func:`account_row` tuples) and latencies
        (``(function, seconds)`` pairs); ``None`` keeps what the bridge's settings say."""
        _require_plain(accounts=accounts, latency=latency)
        specs = None if accounts is None else [_account_from_row(row) for row in accounts]
        settings = self._core.settings
        with self._core.lock:
            # The trade server (MT5_SIMULATOR_TRADE_STORE) outlives a terminal's restart, as a real one does.
            self._core.terminal = simulated_terminal(settings, specs, None if latency is None else dict(latency))
        self._core.log.info("mt5.bridge.simulator_reset", peer=self._peer)

    def exposed_sim_inject_fault(
        self, function: str, fail_first: int = 0, rate: float = 0.0, code: int = -10004, after: bool = False
    ) -> None:
        _require_plain(function=function, fail_first=fail_first, rate=rate, code=code, after=after)
        with self._core.lock:
            self._sim().inject_fault(function, fail_first=fail_first, rate=rate, code=code, after=bool(after))

    def exposed_sim_clear_faults(self) -> None:
        with self._core.lock:
            self._sim().clear_faults()

    def exposed_sim_crash(self, code: int | None = None) -> None:
        _require_plain(code=code)
        with self._core.lock:
            if code is None:
                self._sim().crash()
            else:
                self._sim().crash(code)

    def exposed_sim_enable_algo_trading(self) -> None:
        with self._core.lock:
            self._sim().enable_algo_trading()

    def exposed_sim_reset_counters(self) -> None:
        with self._core.lock:
            self._sim().reset_counters()

    # Readers do not wait for the terminal lock, so a test can watch a call that is still in flight.

    def exposed_sim_calls(self) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(dict(self._sim().calls).items()))  # dict(): one atomic copy of the Counter

    def exposed_sim_max_concurrent_calls(self) -> int:
        return int(self._sim().max_concurrent_calls)

    def exposed_sim_active_login(self) -> int | None:
        login: int | None = self._sim().active_login
        return login

    def exposed_sim_algo_trading(self) -> bool:
        return bool(self._sim().algo_trading)

    def exposed_sim_accounts(self) -> tuple[tuple[Any, ...], ...]:
        return tuple(account_row(a) for a in self._sim().accounts)

    def _sim(self) -> Any:
        from mt5_worker.terminal.simulator import SimulatedTerminal

        terminal = self._core.terminal
        if not isinstance(terminal, SimulatedTerminal):
            raise TypeError("simulator control needs the simulator backend")
        return terminal


ACCOUNT_ROW_FIELDS = ("login", "password", "server", "name", "balance", "equity", "currency", "leverage", "company",
                      "trades", "trade_allowed", "trade_expert")  # fmt: skip


def account_row(account: AccountSpec) -> tuple[Any, ...]:
    """An account as plain data for simulator control (test accounts only: it carries the password)."""
    values = account.model_dump()
    values["password"] = account.password.get_secret_value()
    return tuple(values[name] for name in ACCOUNT_ROW_FIELDS)


def _account_from_row(row: tuple[Any, ...]) -> AccountSpec:
    return AccountSpec.model_validate(dict(zip(ACCOUNT_ROW_FIELDS, row, strict=True)))


def _require_plain(**arguments: Any) -> None:
    bad = next((name for name, value in arguments.items() if not is_plain(value)), None)
    if bad is not None:
        raise TypeError(f"argument {bad!r} must be plain data")
