"""The simulator's account figures are worked out again only when something they depend on changed
(``TradingSide.figures``): a terminal asked again and again answers as a new terminal does, across ticks, minutes,
midnight's swap, the weekend close, account switches and trades made by this terminal or another."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.simulator.specs import AccountSpec
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import AccountInfo
from tests.conftest import ManualClock

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

THURSDAY = 1_795_701_600.0  # 2026-11-26 14:00 UTC (server time): every market open
MIDNIGHT = 1_795_737_570.0  # 2026-11-26 23:59:30: the rollover to Friday
CLOSING = 1_795_816_680.0  # 2026-11-27 21:58: FX closes for the weekend, crypto trades on
TRADER = AccountSpec(login=7101, password=SecretStr("pw-7101-xxxx"), server="MetaQuotes-Demo", balance=10_000.0,
                     trades=False)  # fmt: skip
GENERATED = DEMO_ACCOUNTS[0]  # generated open positions (no swap)
ACCOUNTS = (TRADER, GENERATED)
# Within a tick's span, across ticks, minutes and hours, backwards, across midnight and into the weekend close.
STEPS = [0.001, 0.007, 0.13, 0.999, 45, -0.003, -20, 3600, 0.5, 2]


def _terminal(clock: ManualClock, store: Path) -> SimulatedTerminal:
    sim = SimulatedTerminal(ACCOUNTS, clock=clock, trade_store=store)
    assert sim.initialize()
    return sim


def _info(sim: SimulatedTerminal, account: AccountSpec) -> AccountInfo:
    assert sim.login(account.login, account.password.get_secret_value(), account.server), sim.last_error()
    info = sim.account_info()
    assert info is not None, sim.last_error()
    return info


def _buy(sim: SimulatedTerminal, symbol: str) -> None:
    assert sim.login(TRADER.login, TRADER.password.get_secret_value(), TRADER.server)
    tick = sim.symbol_info_tick(symbol)
    assert tick is not None
    result = sim.order_send({"action": c.TRADE_ACTION_DEAL, "symbol": symbol, "volume": 0.1, "type": c.ORDER_TYPE_BUY,
                             "price": tick.ask})  # fmt: skip
    assert result is not None and result.retcode == c.TRADE_RETCODE_DONE, (result, sim.last_error())


def test_figures_asked_again_and_again_are_those_a_new_terminal_works_out(tmp_path: Path) -> None:
    store = tmp_path / "trades.sqlite"
    clock = ManualClock(THURSDAY)
    sim = _terminal(clock, store)
    _buy(sim, "GBPUSD")  # a position of the trade server's own: it accrues swap at every midnight
    seen: set[tuple[int, float]] = set()
    for i in range(140):
        if i == 40:
            clock.now = MIDNIGHT
        if i == 120:
            clock.now = CLOSING
        if i == 60:
            _buy(_terminal(clock, store), "GBPUSD")  # another terminal trades: this one must see it at once
        if i == 80:
            _buy(sim, "GBPUSD")
        # Walks of 4 s forwards and 7.5 s backwards in small steps across ticks, else every kind of step.
        clock.advance(0.2 if 20 <= i < 40 else -0.25 if 90 <= i < 120 else STEPS[i % len(STEPS)])
        for account in ACCOUNTS if i % 3 else ACCOUNTS[::-1]:
            got = _info(sim, account)
            assert got == _info(_terminal(clock, store), account), (i, clock.now, account.login)
            seen.add((account.login, got.equity))
    _info(sim, TRADER)
    swaps = [p.swap for p in sim.positions_get() or ()]
    assert any(swaps), swaps  # the run crossed a rollover with a position of the server's own
    assert len(seen) > 40  # the figures changed as time moved and trades were made: the test saw memos end
