"""The real-SDK adapter, exercised with the simulator standing in for the ``MetaTrader5`` module."""

from __future__ import annotations

from typing import Any

from harness.env import clock_offset
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal
from mt5_worker.terminal.port import AccountInfo, TerminalInfo
from tests.conftest import creds, simulator


def test_adapter_passes_calls_through_and_rebuilds_plain_named_tuples() -> None:
    sim = simulator()
    terminal = MetaTrader5Terminal(module=sim)  # type: ignore[arg-type]
    assert terminal.login(*creds(DEMO_ACCOUNTS[0])) is False
    assert (-10004, "No IPC connection") == terminal.last_error()
    assert terminal.initialize(timeout=5000) is True
    assert terminal.login(*creds(DEMO_ACCOUNTS[0]), timeout=5000) is True
    info = terminal.account_info()
    assert (AccountInfo, DEMO_ACCOUNTS[0].login) == (type(info), info.login)  # type: ignore[union-attr]
    assert TerminalInfo is type(terminal.terminal_info())
    assert (500, 4755, "20 Nov 2026") == terminal.version()
    assert terminal.shutdown() is True


def test_adapter_omits_unset_keyword_arguments() -> None:
    seen: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class Recorder(SimulatedTerminal):
        def initialize(self, *args: Any, **kwargs: Any) -> bool:  # type: ignore[override]
            seen.append((args, kwargs))
            return super().initialize(*args, **kwargs)

    MetaTrader5Terminal(module=Recorder(clock_offset=clock_offset())).initialize()  # type: ignore[arg-type]
    assert [((), {"timeout": 60000, "portable": False})] == seen
