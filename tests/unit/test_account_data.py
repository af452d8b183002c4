"""The account side of the port on the simulator: record shapes and field orders, argument conventions, masks,
determinism, margin and profit, order_check retcodes (docs/sdk-market-data.md, "Account side")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mt5_worker.errors import InvalidRequestError
from mt5_worker.manager.account_data import AccountData
from mt5_worker.manager.connection_manager import MT5ConnectionManager
from mt5_worker.manager.market_requests import ORDER_TYPES, named
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.simulator.masks import matches
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.port import ACCOUNT_FUNCTIONS, FUNCTIONS
from mt5_worker.terminal.records import OrderCheckResult, TradeDeal, TradeOrder, TradePosition, TradeRequest
from tests.conftest import creds

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

NOW = datetime(2026, 11, 4, 12, 0, 0, tzinfo=UTC).timestamp()  # a Wednesday: the market is open
NO_IPC = (-10004, "No IPC connection")
KEYWORDS_REFUSED = (-2, "Invalid parameters")
WRONG_COUNT = (-2, "Invalid number of arguments")
ALICE, BOB = DEMO_ACCOUNTS[0], DEMO_ACCOUNTS[1]
EVER = (0, 2**33)


def _sim(account=ALICE) -> SimulatedTerminal:  # type: ignore[no-untyped-def]
    sim = SimulatedTerminal(clock=lambda: NOW)
    login, password, server = creds(account)
    assert sim.initialize(login=login, password=password, server=server)
    return sim


@pytest.fixture
def sim() -> SimulatedTerminal:
    return _sim()


def test_record_field_orders_are_the_sdks() -> None:
    assert TradePosition._fields[:6] == ("ticket", "time", "time_msc", "time_update", "time_update_msc", "type")
    assert len(TradePosition._fields) == 19 and TradePosition._fields[-3:] == ("symbol", "comment", "external_id")
    assert len(TradeOrder._fields) == 24 and TradeOrder._fields[:3] == ("ticket", "time_setup", "time_setup_msc")
    assert len(TradeDeal._fields) == 18 and TradeDeal._fields[:4] == ("ticket", "order", "time", "time_msc")
    assert len(TradeRequest._fields) == 17 and TradeRequest._fields[-2:] == ("position", "position_by")
    assert OrderCheckResult._fields[-2:] == ("comment", "request")
    assert set(ACCOUNT_FUNCTIONS) <= set(FUNCTIONS)


def test_shapes_totals_and_ledger_consistency(sim: SimulatedTerminal) -> None:
    positions, orders = sim.positions_get(), sim.orders_get()
    assert positions is not None and orders is not None
    assert sim.positions_total() == len(positions) and sim.orders_total() == len(orders)
    assert all(type(p) is TradePosition and p.ticket // 10**6 == ALICE.login for p in positions)
    deals, history = sim.history_deals_get(*EVER), sim.history_orders_get(*EVER)
    assert deals and history
    assert sim.history_deals_total(*EVER) == len(deals) and sim.history_orders_total(*EVER) == len(history)
    assert [d.time_msc for d in deals] == sorted(d.time_msc for d in deals)
    for p in positions:  # every open position has its entry deal
        assert any(d.position_id == p.ticket and d.entry == c.DEAL_ENTRY_IN for d in deals)


def test_deal_prices_lie_within_the_symbols_history(sim: SimulatedTerminal) -> None:
    for deal in (sim.history_deals_get(*EVER) or ())[:10]:
        if not deal.symbol:
            continue
        bars = sim.copy_rates_range(deal.symbol, c.TIMEFRAME_M1, deal.time - 60, deal.time)
        assert bars is not None and len(bars)
        assert bars["low"].min() - 0.01 * deal.price <= deal.price <= bars["high"].max() + 0.01 * deal.price


def test_accounts_see_only_their_own_trading() -> None:
    alice, bob = _sim(ALICE), _sim(BOB)
    a = {d.ticket for d in alice.history_deals_get(*EVER) or ()}
    b = {d.ticket for d in bob.history_deals_get(*EVER) or ()}
    assert a and b and not a & b


def test_determinism() -> None:
    assert _sim().history_deals_get(*EVER) == _sim().history_deals_get(*EVER)
    assert _sim().positions_get() == _sim().positions_get()


def test_filters_and_masks(sim: SimulatedTerminal) -> None:
    deals = sim.history_deals_get(*EVER) or ()
    symbol = next(d.symbol for d in deals if d.symbol)
    assert all(d.symbol == symbol for d in sim.history_deals_get(*EVER, group=symbol) or ())
    excluded = sim.history_deals_get(*EVER, group=f"*,!{symbol}") or ()
    assert excluded and symbol not in {d.symbol for d in excluded}
    position = next(d.position_id for d in deals if d.position_id)
    by_position = sim.history_deals_get(position=position) or ()
    assert by_position and {d.position_id for d in by_position} == {position}
    assert sim.history_deals_get(ticket=deals[0].ticket) == (deals[0],)
    for p in sim.positions_get() or ():
        assert sim.positions_get(ticket=p.ticket) == (p,)
        assert p in (sim.positions_get(symbol=p.symbol) or ())


def test_sdk_argument_conventions(sim: SimulatedTerminal) -> None:
    assert sim.history_deals_get(date_from=0, date_to=1) is None and sim.last_error() == KEYWORDS_REFUSED
    assert sim.history_deals_get(0) is None and sim.last_error() == WRONG_COUNT
    assert sim.history_orders_get(0, 1, ticket=5) is None and sim.last_error() == WRONG_COUNT
    assert sim.positions_get("EURUSD") is None and sim.last_error() == WRONG_COUNT
    assert sim.positions_get(ticket="5") is None and sim.last_error() == (-2, 'Invalid "ticket" argument')
    assert sim.positions_get(magic=5) is None and sim.last_error() == KEYWORDS_REFUSED
    assert sim.order_calc_margin(9, "EURUSD", 1.0, 1.1) is None
    assert sim.last_error() == (-2, 'Invalid "action" argument')
    assert sim.order_calc_profit(c.ORDER_TYPE_BUY_LIMIT, "EURUSD", 1.0, 1.1, 1.2) is None
    assert sim.order_calc_margin(0, "NOPE", 1.0, 1.1) is None and sim.last_error() == (-1, "Terminal: Call failed")
    assert sim.order_check({"action": 1, "bogus": 1}) is None
    assert sim.positions_get(symbol="NOPE") == ()


def test_not_initialized_is_no_ipc() -> None:
    sim = SimulatedTerminal(clock=lambda: NOW)
    for call in (sim.positions_get, sim.orders_total, lambda: sim.history_deals_get(0, 1)):
        assert call() is None and sim.last_error() == NO_IPC


def test_faults_apply_to_account_functions(sim: SimulatedTerminal) -> None:
    sim.inject_fault("positions_get", fail_first=1, code=-10005)
    assert sim.positions_get() is None and sim.last_error()[0] == -10005
    assert sim.positions_get() is not None
    sim.crash()
    assert sim.order_check({"action": 1}) is None and sim.last_error()[0] == -10001


def test_margin_agrees_with_leverage_and_contract_size(sim: SimulatedTerminal) -> None:
    assert sim.order_calc_margin(c.ORDER_TYPE_BUY, "USDJPY", 1.0, 150.0) == 100_000 / ALICE.leverage
    us500 = sim.order_calc_margin(c.ORDER_TYPE_BUY, "US500", 10.0, 5000.0)
    assert us500 == round(10 * 1.0 * 5000.0 / ALICE.leverage, 2)
    assert sim.order_calc_profit(c.ORDER_TYPE_SELL, "US500", 1.0, 5000.0, 4990.0) == 10.0


def _check(sim: SimulatedTerminal, **fields: object) -> int:
    request = {"action": c.TRADE_ACTION_DEAL, "symbol": "GBPUSD", "volume": 0.1, "type": c.ORDER_TYPE_BUY} | fields
    result = sim.order_check(request)
    assert result is not None and type(result.request) is TradeRequest
    return result.retcode


def test_order_check_retcodes(sim: SimulatedTerminal) -> None:
    assert _check(sim) == c.TRADE_RETCODE_CHECK_OK
    assert _check(sim, volume=0.015) == c.TRADE_RETCODE_INVALID_VOLUME
    assert _check(sim, volume=1000.0) == c.TRADE_RETCODE_INVALID_VOLUME
    assert _check(sim, symbol="EURUSD", type_filling=c.ORDER_FILLING_IOC) == c.TRADE_RETCODE_INVALID_FILL  # FOK only
    assert _check(sim, type_filling=c.ORDER_FILLING_IOC) == c.TRADE_RETCODE_CHECK_OK
    assert _check(sim, symbol="EURUSD") == c.TRADE_RETCODE_INVALID_PRICE  # instant execution: the price is required
    ask = sim.symbol_info_tick("EURUSD").ask  # type: ignore[union-attr]
    assert _check(sim, symbol="EURUSD", price=ask) == c.TRADE_RETCODE_CHECK_OK
    assert _check(sim, symbol="NOPE") == c.TRADE_RETCODE_INVALID
    assert _check(sim, action=c.TRADE_ACTION_PENDING, type=c.ORDER_TYPE_BUY_LIMIT) == c.TRADE_RETCODE_INVALID_PRICE
    assert _check(sim, sl=10.0) == c.TRADE_RETCODE_INVALID_STOPS
    assert _check(sim, volume=100.0) == c.TRADE_RETCODE_NO_MONEY
    ok = sim.order_check({"action": 1, "symbol": "GBPUSD", "volume": 0.1, "type": 0})
    assert ok is not None and ok.comment == "Done" and ok.margin_free == round(ok.equity - ok.margin, 2)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(group=st.lists(st.sampled_from(["*", "!*USD*", "EUR*", "!*JPY", "XAU*", "*BTC*"]), max_size=4))
def test_history_group_masks_match_the_mask_rules(sim: SimulatedTerminal, group: list[str]) -> None:
    mask = ",".join(group)
    everything = sim.history_deals_get(*EVER) or ()
    selected = sim.history_deals_get(*EVER, group=mask) or ()
    assert list(selected) == [d for d in everything if matches(mask, d.symbol)]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(volume=st.floats(0.0, 600.0), filling=st.integers(-1, 4))
def test_order_check_answers_a_known_retcode(sim: SimulatedTerminal, volume: float, filling: int) -> None:
    assert _check(sim, volume=volume, type_filling=filling) in {
        c.TRADE_RETCODE_CHECK_OK, c.TRADE_RETCODE_INVALID_VOLUME, c.TRADE_RETCODE_INVALID_FILL,
        c.TRADE_RETCODE_NO_MONEY,
    }  # fmt: skip


# --- the manager's account reads: validation before the terminal, JSON answers ---------------------------


@pytest.fixture
def account() -> AccountData:
    sim = SimulatedTerminal(clock=lambda: NOW)
    return AccountData(MT5ConnectionManager(sim, Settings.load(_env_file=None), sleep=lambda _: None), max_rows=1000)


def _creds() -> dict[str, object]:
    _, password, server = creds(ALICE)
    return {"password": password, "server": server}


def test_account_reads_answer_json_records(account: AccountData) -> None:
    positions = account.positions(ALICE.login, **_creds())
    assert all(list(p) == list(TradePosition._fields) for p in positions)
    deals = account.history_deals(ALICE.login, date_from="2015-01-01T00:00:00Z", date_to=2**32)
    assert deals and all(type(d["ticket"]) is int and d["ticket"] // 10**6 == ALICE.login for d in deals)
    assert account.history_deals(ALICE.login, position=deals[1]["position_id"])
    assert account.history_orders(ALICE.login, date_from=0, date_to=2**32, group="*USD*")
    assert account.order_calc_margin(ALICE.login, "buy", "USDJPY", 1, 150) == 1000.0
    assert account.order_calc_profit(ALICE.login, "sell", "US500", 1, 5000, 4990) == 10.0
    check = account.order_check(ALICE.login, {"action": "deal", "symbol": "GBPUSD", "volume": 0.1, "type": "buy"})
    assert check["retcode"] == 0 and check["request"]["type"] == 0 and check["request"]["action"] == 1
    bad = account.order_check(ALICE.login, {"action": "deal", "symbol": "EURUSD", "volume": 0.1, "type": "buy",
                                            "type_filling": "ioc"})  # fmt: skip
    assert bad["retcode"] == c.TRADE_RETCODE_INVALID_FILL


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: a.positions(ALICE.login, ticket=0), "ticket"),
        (lambda a: a.positions(ALICE.login, ticket=True), "ticket"),
        (lambda a: a.positions(ALICE.login, symbol="EURUSD", ticket=5), "at most one"),
        (lambda a: a.orders(ALICE.login, group="*,,"), "group"),
        (lambda a: a.history_deals(ALICE.login, date_from=0), "history request"),
        (lambda a: a.history_deals(ALICE.login, date_from=5, date_to=1), "before"),
        (lambda a: a.history_deals(ALICE.login, ticket=1, group="*"), "history request"),
        (lambda a: a.order_calc_margin(ALICE.login, "hold", "EURUSD", 1, 1.1), "action"),
        (lambda a: a.order_calc_profit(ALICE.login, "buy_limit", "EURUSD", 1, 1.1, 1.2), "action"),
        (lambda a: a.order_calc_margin(ALICE.login, "buy", "EURUSD", 0, 1.1), "volume"),
        (lambda a: a.order_check(ALICE.login, {"symbol": "EURUSD"}), "action is required"),
        (lambda a: a.order_check(ALICE.login, {"action": "deal", "magik": 1}), "unknown field"),
        (lambda a: a.order_check(ALICE.login, {"action": "deal", "volume": "1"}), "volume"),
    ],
)
def test_bad_account_requests_fail_before_any_sdk_call(account: AccountData, call: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        call(account)


@given(value=st.one_of(st.integers(-5, 12), st.sampled_from([*ORDER_TYPES, "BUY", "ORDER_TYPE_SELL", "x"])))
def test_order_type_names_and_integers(value: object) -> None:
    valid = (isinstance(value, int) and 0 <= value <= 8) or (
        isinstance(value, str) and value.lower().removeprefix("order_type_") in ORDER_TYPES
    )
    if valid:
        assert named(value, ORDER_TYPES, "type") in range(9)
    else:
        with pytest.raises(InvalidRequestError):
            named(value, ORDER_TYPES, "type")
