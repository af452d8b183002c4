"""The bridge's simulator control: ``sim_*`` methods that reset, fault, crash and inspect a simulated terminal
behind a bridge, for tests and the fault campaign.

A mixin of :class:`~mt5_worker.bridge.service.BridgeService`; its names are allowed only with
``--allow-simulator-control`` and the simulator backend. Accounts cross as plain :func:`account_row` tuples. A
reset builds the new simulator through the backend chooser (:mod:`mt5_worker.backends`), as the bridge's first one
was, so this module never imports the simulator: it drives whatever terminal says it is one.
"""

from __future__ import annotations

from typing import Any

from mt5_worker.backends import simulated_terminal
from mt5_worker.bridge.core import BridgeCore
from mt5_worker.bridge.wire import is_plain


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
        rows = None if accounts is None else [dict(zip(ACCOUNT_ROW_FIELDS, row, strict=True)) for row in accounts]
        overrides: dict[str, Any] = {} if latency is None else {"latency": dict(latency)}
        with self._core.lock:
            # The trade server (MT5_SIMULATOR_TRADE_STORE) outlives the terminal's restart, as a real one does.
            self._core.terminal = simulated_terminal(self._core.settings, accounts=rows, **overrides)
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
        terminal = self._core.terminal
        if getattr(terminal, "backend", None) != "simulator":
            raise TypeError("simulator control needs the simulator backend")
        return terminal


# The names simulator control adds to what a connection may call.
SIMULATOR_CONTROL = tuple(
    name.removeprefix("exposed_") for name in vars(SimulatorControl) if name.startswith("exposed_")
)

ACCOUNT_ROW_FIELDS = ("login", "password", "server", "name", "balance", "equity", "currency", "leverage", "company",
                      "trades", "trade_allowed", "trade_expert", "trade_mode")  # fmt: skip


def account_row(account: Any) -> tuple[Any, ...]:
    """A simulator's account (an ``AccountSpec``) as plain data for simulator control (test accounts only: it
    carries the password)."""
    values = account.model_dump()
    values["password"] = account.password.get_secret_value()
    return tuple(values[name] for name in ACCOUNT_ROW_FIELDS)


def _require_plain(**arguments: Any) -> None:
    bad = next((name for name, value in arguments.items() if not is_plain(value)), None)
    if bad is not None:
        raise TypeError(f"argument {bad!r} must be plain data")
