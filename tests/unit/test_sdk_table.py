"""The SDK table (mt5_worker.terminal.functions) against everything that implements the port: the typed protocol,
the simulator, the real adapter and the bridge's. A function missing anywhere, or a parameter that disagrees on
its name, kind or default, fails here and says where."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from mt5_worker.bridge.terminal import BridgeTerminal
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal.functions import BY_NAME, FUNCTIONS, KEYWORD, POSITIONAL, SPECS, FunctionSpec, Side
from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal
from mt5_worker.terminal.port import Terminal
from tests.conftest import creds, simulator


def _shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def _public_methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")}


def test_the_protocol_declares_exactly_the_tables_functions() -> None:
    assert set(FUNCTIONS) == _public_methods(Terminal)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_protocol_agrees_with_the_table(spec: FunctionSpec) -> None:
    declared = inspect.signature(getattr(Terminal, spec.name))
    assert _shape(spec.signature) == _shape(declared), "names, kinds and defaults"
    annotations = [(p.name, p.annotation) for p in declared.parameters.values()]
    assert [(p.name, p.annotation) for p in spec.signature.parameters.values()] == annotations
    assert spec.returns.annotation == declared.return_annotation


@pytest.mark.parametrize("adapter", [MetaTrader5Terminal, BridgeTerminal])
def test_the_derived_adapters_have_every_function_with_the_tables_signature(adapter: type) -> None:
    for spec in SPECS:
        method = getattr(adapter, spec.name)
        assert _shape(spec.signature) == _shape(inspect.signature(method)), f"{adapter.__name__}.{spec.name}"


def test_the_adapters_are_terminals() -> None:
    assert isinstance(MetaTrader5Terminal(module=simulator()), Terminal)  # type: ignore[arg-type]
    assert isinstance(BridgeTerminal("127.0.0.1", 1, "token"), Terminal)
    assert isinstance(simulator(), Terminal)


def test_sides_partition_the_functions() -> None:
    assert {"order_send"} == {s.name for s in SPECS if s.side is Side.TRADING}
    assert len(FUNCTIONS) == len(set(FUNCTIONS)) == len(BY_NAME)


# --- the simulator: written-out signatures compared, SDK-style parsing (by the table) exercised -------------------


def _variadic(method: Any) -> bool:
    kinds = {p.kind for p in inspect.signature(method).parameters.values() if p.name != "self"}
    return kinds == {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_simulator_agrees_with_the_table(spec: FunctionSpec) -> None:
    method = getattr(SimulatedTerminal, spec.name)
    if not _variadic(method):
        assert _shape(spec.signature) == _shape(inspect.signature(method))
        return
    # Parsed like the SDK, by the table: count, unknown names, unnamed parameters passed by name.
    sim = simulator()
    assert sim.initialize() and sim.login(*creds(DEMO_ACCOUNTS[0]))
    failure = spec.returns.failure
    positional = [p for p in spec.params if p.kind is not KEYWORD]
    too_many = [0] * (len(positional) + 1)
    assert failure == getattr(sim, spec.name)(*too_many)
    assert (-2, "Invalid number of arguments") == sim.last_error()
    assert failure == getattr(sim, spec.name)(not_a_parameter=1)
    assert (-2, "Invalid parameters") == sim.last_error()
    for param in positional:
        if param.kind is POSITIONAL:
            assert failure == getattr(sim, spec.name)(**{param.name: 1}), param.name
            assert -2 == sim.last_error()[0]
