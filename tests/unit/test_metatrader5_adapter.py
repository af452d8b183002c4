"""The real-SDK adapter (``terminal/metatrader5.py``, the code that runs on Windows), over the stand-in
``MetaTrader5`` module: the simulator behind the SDK's module-level functions, answering with the SDK's own kinds of
values (``harness/sdk_standin.py``): its record types, which do not pickle, numpy arrays, ``None`` and
``last_error()``."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from harness.env import clock_offset
from harness.sdk_standin import SDK_RECORDS, sdk_value, standin
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal
from mt5_worker.terminal.records import AccountInfo, TerminalInfo, Tick
from tests.conftest import creds, simulator


def test_adapter_passes_calls_through_and_rebuilds_plain_named_tuples() -> None:
    terminal = MetaTrader5Terminal(module=standin(simulator()))
    assert terminal.login(*creds(DEMO_ACCOUNTS[0])) is False
    assert (-10004, "No IPC connection") == terminal.last_error()
    assert terminal.initialize(timeout=5000) is True
    assert terminal.login(*creds(DEMO_ACCOUNTS[0]), timeout=5000) is True
    info = terminal.account_info()
    assert (AccountInfo, DEMO_ACCOUNTS[0].login) == (type(info), info.login)  # type: ignore[union-attr]
    assert TerminalInfo is type(terminal.terminal_info())
    assert (500, 4755, "20 Nov 2026") == terminal.version()
    assert pickle.loads(pickle.dumps(info)) == info  # rebuilt: it travels (Celery results, the bridge)
    assert terminal.shutdown() is True


def test_the_standin_answers_the_sdks_own_records_which_do_not_travel() -> None:
    module = standin(simulator())
    assert module.initialize() and module.login(*creds(DEMO_ACCOUNTS[0]))
    info = module.account_info()
    assert type(info) is SDK_RECORDS[AccountInfo] and type(info) is not AccountInfo
    assert ("MetaTrader5", DEMO_ACCOUNTS[0].login) == (type(info).__module__, info._asdict()["login"])
    assert repr(info).startswith("AccountInfo(login=")
    with pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(info)
    assert module.symbol_info("NOPE") is None and (-4, "Terminal: Not found") == module.last_error()
    assert 16385 == module.TIMEFRAME_H1 and not hasattr(module, "SYMBOL_FILLING_FOK")  # not exported by the wheel


def test_the_adapter_takes_fields_by_name_so_a_newer_sdk_may_add_some() -> None:
    """A newer module whose ``Tick`` has a field more: the adapter still answers the port's ``Tick``."""
    newer = type("Tick", (tuple,), {"_asdict": lambda self: dict(zip((*Tick._fields, "sector"), self, strict=True))})
    module = standin(simulator())
    plain = module.symbol_info_tick
    module.symbol_info_tick = lambda *a: newer((*plain(*a), "extra"))  # type: ignore[attr-defined]
    terminal = MetaTrader5Terminal(module=module)
    assert terminal.initialize() and terminal.login(*creds(DEMO_ACCOUNTS[0]))
    tick = terminal.symbol_info_tick("EURUSD")
    assert type(tick) is Tick and tick.time > 0


def test_sdk_value_converts_records_nested_and_in_tuples_only() -> None:
    sim = simulator()
    sim.initialize()
    sim.login(*creds(DEMO_ACCOUNTS[0]))
    positions = sdk_value(sim.positions_get())
    assert positions and all(type(p).__module__ == "MetaTrader5" for p in positions)
    assert (1, "Success") == sdk_value((1, "Success")) and () == sdk_value(())


def test_adapter_omits_unset_keyword_arguments() -> None:
    seen: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class Recorder(SimulatedTerminal):
        def initialize(self, *args: Any, **kwargs: Any) -> bool:  # type: ignore[override]
            seen.append((args, kwargs))
            return super().initialize(*args, **kwargs)

    MetaTrader5Terminal(module=standin(Recorder(clock_offset=clock_offset()))).initialize()
    assert [((), {"timeout": 60000, "portable": False})] == seen
