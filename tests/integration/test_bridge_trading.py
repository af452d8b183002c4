"""order_send across a real bridge process: results rebuilt as records, the after-fault injected through simulator
control, and the simulated trade server's state surviving the bridge's death and restart.

Accounts here are this module's own (server "Bridge-Trading"), so no other test meets their trades on the
session's shared simulated trade servers."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from harness.env import trade_store
from mt5_worker.simulator.specs import AccountSpec
from mt5_worker.simulator.trade_store import TradeStore
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import OrderSendResult, TradeRequest
from tests.bridge_fixtures import BridgeProcess, RemoteSimulator

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

SERVER = "Bridge-Trading"
BUY = {"action": c.TRADE_ACTION_DEAL, "symbol": "BTCUSD", "volume": 0.01, "type": c.ORDER_TYPE_BUY}  # trades 24/7


def account(login: int) -> AccountSpec:
    return AccountSpec(login=login, password=SecretStr(f"pw-{login}-bridge"), server=SERVER, trades=False)


def logged_in(sim: RemoteSimulator, spec: AccountSpec) -> RemoteSimulator:
    assert sim.initialize(login=spec.login, password=spec.password.get_secret_value(), server=spec.server)
    return sim


def test_order_send_across_the_bridge(bridge_sim: RemoteSimulator) -> None:
    spec = account(8101)
    sim = logged_in(bridge_sim.reset([spec]), spec)
    result = sim.order_send(BUY | {"comment": "bridge:1"})
    assert type(result) is OrderSendResult and type(result.request) is TradeRequest
    assert (c.TRADE_RETCODE_DONE, "bridge:1", BUY["volume"]) == (result.retcode, result.request.comment, result.volume)
    assert ["bridge:1"] == [p.comment for p in sim.positions_get() or ()]
    refused = sim.order_send(BUY | {"volume": 0.015})
    assert refused is not None and c.TRADE_RETCODE_INVALID_VOLUME == refused.retcode
    assert sim.order_send({"action": 1, "bogus": 1}) is None
    assert (-2, 'Invalid "request" argument') == sim.last_error()
    info = sim.account_info()
    assert info is not None and info.margin > 0
    assert {"bridge:1": 1} == TradeStore(trade_store()).executions_by_comment(SERVER, spec.login)


def test_an_after_fault_through_simulator_control_executes_then_fails(bridge_sim: RemoteSimulator) -> None:
    spec = account(8102)
    sim = logged_in(bridge_sim.reset([spec]), spec)
    sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)
    assert sim.order_send(BUY | {"comment": "bridge:lost"}) is None
    assert (-10002, "IPC recv failed") == sim.last_error()
    assert ["bridge:lost"] == [p.comment for p in sim.positions_get() or ()]
    assert {"bridge:lost": 1} == TradeStore(trade_store()).executions_by_comment(SERVER, spec.login)


def test_algo_trading_switch_through_simulator_control(bridge_factory: Callable[..., BridgeProcess]) -> None:
    first, second = account(8103), account(8104)
    bridge = bridge_factory(env={"MT5_SIMULATOR_DISABLE_ALGO_ON_SWITCH": "true"})
    sim = logged_in(bridge.simulator().reset([first, second]), first)
    assert sim.login(second.login, second.password.get_secret_value(), second.server)
    assert sim.algo_trading is False and sim.terminal_info().trade_allowed is False  # type: ignore[union-attr]
    assert c.TRADE_RETCODE_CLIENT_DISABLES_AT == sim.order_send(BUY).retcode  # type: ignore[union-attr]
    sim.enable_algo_trading()
    assert c.TRADE_RETCODE_DONE == sim.order_send(BUY).retcode  # type: ignore[union-attr]
    sim.close()


def test_the_trade_servers_state_survives_a_killed_bridge(bridge_factory: Callable[..., BridgeProcess]) -> None:
    spec = account(8105)
    bridge = bridge_factory()
    sim = logged_in(bridge.simulator().reset([spec]), spec)
    opened = sim.order_send(BUY | {"comment": "before-restart"})
    assert opened is not None and c.TRADE_RETCODE_DONE == opened.retcode
    sim.close()
    bridge.stop(signal.SIGKILL)
    bridge.start()  # a new process, a new simulated terminal: the trade server is the same
    again = logged_in(bridge.simulator().reset([spec]), spec)
    assert [(opened.order, "before-restart")] == [(p.ticket, p.comment) for p in again.positions_get() or ()]
    closed = again.order_send(BUY | {"type": c.ORDER_TYPE_SELL, "position": opened.order})
    assert closed is not None and c.TRADE_RETCODE_DONE == closed.retcode and () == again.positions_get()
    again.close()
