"""The account side across a real bridge process: the same records as the simulator answers in-process."""

from __future__ import annotations

import pytest

from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import OrderCheckResult, TradeDeal, TradePosition, TradeRequest
from tests.bridge_fixtures import RemoteSimulator
from tests.conftest import creds, simulator

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

NO_IPC = (-10004, "No IPC connection")
EVER = (0, 2**32)


def local() -> SimulatedTerminal:
    sim = simulator()
    sim.initialize()
    sim.login(*creds(DEMO_ACCOUNTS[0]))
    return sim


def test_account_functions_across_the_bridge(bridge_sim: RemoteSimulator) -> None:
    assert bridge_sim.positions_get() is None and bridge_sim.last_error() == NO_IPC
    assert bridge_sim.initialize() is True and bridge_sim.login(*creds(DEMO_ACCOUNTS[0])) is True
    here = local()
    assert bridge_sim.positions_total() == here.positions_total()
    assert bridge_sim.orders_total() == here.orders_total()
    positions = bridge_sim.positions_get()
    assert positions is not None and all(type(p) is TradePosition for p in positions)
    deals = bridge_sim.history_deals_get(*EVER)
    assert deals is not None and all(type(d) is TradeDeal for d in deals)
    # Closed trades' profits are converted at the rates of the moment each simulator made its ledger (a documented
    # simplification), so two processes may differ by a cent: compare them apart.
    local_deals = here.history_deals_get(*EVER)
    assert [d._replace(profit=0.0) for d in deals] == [d._replace(profit=0.0) for d in local_deals]
    assert all(abs(a.profit - b.profit) <= 0.05 for a, b in zip(deals, local_deals, strict=True))
    assert bridge_sim.history_deals_total(*EVER) == len(deals)
    assert bridge_sim.history_orders_get(*EVER, group="*USD*") == here.history_orders_get(*EVER, group="*USD*")
    assert bridge_sim.history_deals_get(ticket=deals[1].ticket) == (deals[1],)
    assert bridge_sim.history_deals_get(0) is None and bridge_sim.last_error()[0] == -2
    assert bridge_sim.order_calc_margin(c.ORDER_TYPE_BUY, "USDJPY", 1.0, 150.0) == 1000.0
    assert bridge_sim.order_calc_profit(c.ORDER_TYPE_SELL, "US500", 1.0, 5000.0, 4990.0) == 10.0
    check = bridge_sim.order_check({"action": 1, "symbol": "GBPUSD", "volume": 0.1, "type": 0})
    assert type(check) is OrderCheckResult and type(check.request) is TradeRequest and check.retcode == 0
    assert bridge_sim.order_check({"action": 1, "bogus": 1}) is None and bridge_sim.last_error()[0] == -2
