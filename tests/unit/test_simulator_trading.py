"""order_send on the simulator: every retcode path with real requests, what executions change (positions, deals,
account_info), the Algo Trading switch, the after-fault, argument errors, and order_check agreeing with order_send.

The clock is fixed on a Wednesday afternoon (every market open) unless a test moves it to Saturday (FX closed,
BTCUSD open), so prices are the same on every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mt5_worker.settings import Settings
from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.simulator.specs import AccountSpec
from mt5_worker.simulator.trade_store import FIRST_TICKET
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import OrderSendResult
from tests.conftest import ManualClock

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

WEDNESDAY = 1_795_617_000.0  # 2026-11-25 14:30 UTC (server time)
SATURDAY = 1_795_867_200.0  # 2026-11-28 12:00 UTC
A = AccountSpec(login=7001, password=SecretStr("pw-7001-xxxx"), server="Trade-Test", balance=10_000.0, trades=False)
B = AccountSpec(login=7002, password=SecretStr("pw-7002-xxxx"), server="Trade-Test", balance=5_000.0, trades=False)
BUY = {"action": c.TRADE_ACTION_DEAL, "symbol": "GBPUSD", "volume": 0.1, "type": c.ORDER_TYPE_BUY}


def terminal(*accounts: AccountSpec, at: float = WEDNESDAY, **kwargs: Any) -> SimulatedTerminal:
    sim = SimulatedTerminal(accounts or (A, B), clock=ManualClock(at), **kwargs)
    first = (accounts or (A,))[0]
    assert sim.initialize(login=first.login, password=first.password.get_secret_value(), server=first.server)
    return sim


@pytest.fixture
def sim() -> SimulatedTerminal:
    return terminal()


def send(sim: SimulatedTerminal, **fields: Any) -> OrderSendResult:
    result = sim.order_send(BUY | fields)
    assert result is not None, sim.last_error()
    return result


def test_a_market_buy_executes_at_the_ask_and_opens_a_position_with_the_comment(sim: SimulatedTerminal) -> None:
    tick = sim.symbol_info_tick("GBPUSD")
    assert tick is not None
    result = send(sim, comment="idem:4f2a-9c", magic=77)
    assert (c.TRADE_RETCODE_DONE, "Request executed", 0.1, tick.ask, tick.bid, tick.ask) == (
        result.retcode, result.comment, result.volume, result.price, result.bid, result.ask)  # fmt: skip
    assert result.deal >= FIRST_TICKET and result.order >= FIRST_TICKET and result.request.comment == "idem:4f2a-9c"
    (position,) = sim.positions_get(ticket=result.order) or ()
    assert (c.POSITION_TYPE_BUY, 0.1, tick.ask, "idem:4f2a-9c", 77) == (
        position.type, position.volume, position.price_open, position.comment, position.magic)  # fmt: skip
    (deal,) = sim.history_deals_get(position=result.order) or ()
    assert (result.deal, c.DEAL_ENTRY_IN, "idem:4f2a-9c") == (deal.ticket, deal.entry, deal.comment)
    (order,) = sim.history_orders_get(ticket=result.order) or ()
    assert (c.ORDER_STATE_FILLED, "idem:4f2a-9c") == (order.state, order.comment)
    assert {"idem:4f2a-9c": 1} == sim.trade_store.executions_by_comment()


def test_account_info_reflects_positions_and_realised_profit(sim: SimulatedTerminal) -> None:
    before = sim.account_info()
    assert before is not None and (10_000.0, 10_000.0, 0.0, 0.0) == (
        before.balance, before.equity, before.margin, before.margin_level)  # fmt: skip
    opened = send(sim, volume=0.5, type=c.ORDER_TYPE_SELL)
    info = sim.account_info()
    (position,) = sim.positions_get() or ()
    assert info is not None
    assert sim.order_calc_margin(c.ORDER_TYPE_SELL, "GBPUSD", 0.5, opened.price) == info.margin
    expected = (round(10_000.0 + position.profit, 2), round(info.equity - info.margin, 2))
    assert expected == (info.equity, info.margin_free)
    assert round(info.equity / info.margin * 100, 2) == info.margin_level
    closed = send(sim, volume=0.5, type=c.ORDER_TYPE_BUY, position=opened.order)
    gain = sim.order_calc_profit(c.ORDER_TYPE_SELL, "GBPUSD", 0.5, opened.price, closed.price)
    after = sim.account_info()
    assert after is not None and gain is not None
    assert (round(10_000.0 + gain, 2), after.balance, 0.0, ()) == (after.balance, after.equity, after.margin,
                                                                   sim.positions_get())  # fmt: skip
    exit_deal = (sim.history_deals_get(ticket=closed.deal) or ())[0]
    assert (c.DEAL_ENTRY_OUT, gain, opened.order) == (exit_deal.entry, exit_deal.profit, exit_deal.position_id)


def test_a_smaller_volume_closes_part_of_the_position(sim: SimulatedTerminal) -> None:
    opened = send(sim, volume=0.3)
    send(sim, volume=0.1, type=c.ORDER_TYPE_SELL, position=opened.order, comment="part")
    (position,) = sim.positions_get() or ()
    assert (opened.order, 0.2) == (position.ticket, position.volume)
    assert c.TRADE_RETCODE_INVALID_CLOSE_VOLUME == send(sim, volume=0.3, type=c.ORDER_TYPE_SELL,
                                                        position=opened.order).retcode  # fmt: skip


def test_a_generated_position_can_be_closed_and_stays_closed() -> None:
    trading = A.model_copy(update={"trades": True, "login": 10000001})
    sim = terminal(trading)
    generated = sim.positions_get() or ()
    assert generated and all(p.ticket < FIRST_TICKET for p in generated)
    target = generated[0]
    kind = c.ORDER_TYPE_SELL if target.type == c.POSITION_TYPE_BUY else c.ORDER_TYPE_BUY
    fill = c.ORDER_FILLING_IOC if target.symbol in ("USDJPY", "US500") else c.ORDER_FILLING_FOK
    result = sim.order_send({"action": c.TRADE_ACTION_DEAL, "symbol": target.symbol, "volume": target.volume,
                             "type": kind, "position": target.ticket, "type_filling": fill})  # fmt: skip
    assert result is not None and c.TRADE_RETCODE_DONE == result.retcode
    assert [p.ticket for p in generated[1:]] == [p.ticket for p in sim.positions_get() or ()]
    assert sim.positions_total() == len(generated) - 1


def test_instant_execution_requotes_a_price_beyond_the_deviation(sim: SimulatedTerminal) -> None:
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None
    eurusd = {"symbol": "EURUSD", "type_filling": c.ORDER_FILLING_FOK, "deviation": 10}
    requote = send(sim, **eurusd, price=round(tick.ask - 0.0011, 5))
    assert (c.TRADE_RETCODE_REQUOTE, "Requote", 0, 0, tick.bid, tick.ask) == (
        requote.retcode, requote.comment, requote.order, requote.deal, requote.bid, requote.ask)  # fmt: skip
    assert () == sim.positions_get()
    near = send(sim, **eurusd, price=round(tick.ask - 0.0001, 5))
    assert (c.TRADE_RETCODE_DONE, tick.ask) == (near.retcode, near.price)  # executed at the current price
    missing = send(sim, **eurusd)  # instant execution needs a price: the terminal refuses it itself
    assert (c.TRADE_RETCODE_INVALID_PRICE, "Invalid price", 0, 0.0, 0.0) == (
        missing.retcode, missing.comment, missing.request_id, missing.bid, missing.ask)  # fmt: skip


def test_market_execution_ignores_the_stated_price(sim: SimulatedTerminal) -> None:
    assert c.TRADE_RETCODE_DONE == send(sim, price=0.5, deviation=0).retcode  # GBPUSD: market execution


def test_pending_orders_are_placed_modified_and_removed(sim: SimulatedTerminal) -> None:
    tick = sim.symbol_info_tick("GBPUSD")
    assert tick is not None
    limit = round(tick.ask - 0.0050, 5)
    pending = {"action": c.TRADE_ACTION_PENDING, "type": c.ORDER_TYPE_BUY_LIMIT, "price": limit, "comment": "p1"}
    placed = send(sim, **pending)
    assert (c.TRADE_RETCODE_PLACED, 0) == (placed.retcode, placed.deal)
    (order,) = sim.orders_get() or ()
    assert (placed.order, limit, c.ORDER_STATE_PLACED, "p1") == (order.ticket, order.price_open, order.state,
                                                                 order.comment)  # fmt: skip
    modify = {"action": c.TRADE_ACTION_MODIFY, "order": placed.order, "price": round(limit - 0.001, 5)}
    assert c.TRADE_RETCODE_DONE == (sim.order_send(modify) or placed).retcode
    assert c.TRADE_RETCODE_NO_CHANGES == (sim.order_send(modify) or placed).retcode
    assert [round(limit - 0.001, 5)] == [o.price_open for o in sim.orders_get() or ()]
    removed = sim.order_send({"action": c.TRADE_ACTION_REMOVE, "order": placed.order})
    assert removed is not None and (c.TRADE_RETCODE_DONE, placed.order) == (removed.retcode, removed.order)
    assert () == sim.orders_get()
    (history,) = sim.history_orders_get(ticket=placed.order) or ()
    assert c.ORDER_STATE_CANCELED == history.state


def test_sltp_sets_the_stops_of_a_position(sim: SimulatedTerminal) -> None:
    opened = send(sim)
    sl, tp = round(opened.bid - 0.01, 5), round(opened.bid + 0.01, 5)
    result = sim.order_send({"action": c.TRADE_ACTION_SLTP, "position": opened.order, "sl": sl, "tp": tp})
    assert result is not None and c.TRADE_RETCODE_DONE == result.retcode
    assert [(sl, tp)] == [(p.sl, p.tp) for p in sim.positions_get() or ()]
    wrong = sim.order_send({"action": c.TRADE_ACTION_SLTP, "position": opened.order, "sl": tp, "tp": sl})
    assert wrong is not None and c.TRADE_RETCODE_INVALID_STOPS == wrong.retcode


def test_close_by_closes_opposite_positions_against_each_other(sim: SimulatedTerminal) -> None:
    long, short = send(sim, volume=0.2), send(sim, volume=0.1, type=c.ORDER_TYPE_SELL)
    result = sim.order_send({"action": c.TRADE_ACTION_CLOSE_BY, "position": long.order, "position_by": short.order})
    assert result is not None and c.TRADE_RETCODE_DONE == result.retcode
    assert [(long.order, 0.1)] == [(p.ticket, p.volume) for p in sim.positions_get() or ()]
    gain = sim.order_calc_profit(c.ORDER_TYPE_BUY, "GBPUSD", 0.1, long.price, short.price)
    assert sim.account_info().balance == round(10_000.0 + (gain or 0.0), 2)  # type: ignore[union-attr]


REFUSALS = [
    (c.TRADE_RETCODE_INVALID, {"symbol": "NOPE"}),
    (c.TRADE_RETCODE_INVALID, {"action": 99}),
    (c.TRADE_RETCODE_INVALID, {"type": c.ORDER_TYPE_BUY_LIMIT}),  # a pending type for a deal
    (c.TRADE_RETCODE_INVALID, {"position": 123456, "type": c.ORDER_TYPE_SELL}),  # no such position
    (c.TRADE_RETCODE_INVALID, {"action": c.TRADE_ACTION_REMOVE, "order": 42}),
    (c.TRADE_RETCODE_INVALID_VOLUME, {"volume": 0.015}),
    (c.TRADE_RETCODE_INVALID_VOLUME, {"volume": 501.0}),
    (c.TRADE_RETCODE_INVALID_VOLUME, {"volume": 0.0}),
    (c.TRADE_RETCODE_INVALID_PRICE, {"action": c.TRADE_ACTION_PENDING, "type": c.ORDER_TYPE_BUY_LIMIT, "price": 9.0}),
    (c.TRADE_RETCODE_INVALID_PRICE, {"action": c.TRADE_ACTION_PENDING, "type": c.ORDER_TYPE_SELL_STOP, "price": 0.0}),
    (c.TRADE_RETCODE_INVALID_STOPS, {"sl": 9.0}),  # a buy's stop loss above the price
    (c.TRADE_RETCODE_INVALID_STOPS, {"tp": 0.5}),
    (c.TRADE_RETCODE_INVALID_STOPS, {"symbol": "XAUUSD", "type_filling": c.ORDER_FILLING_FOK, "sl": "bid-5pt"}),
    (c.TRADE_RETCODE_NO_MONEY, {"volume": 100.0}),
    (c.TRADE_RETCODE_INVALID_PRICE, {"symbol": "EURUSD", "type_filling": c.ORDER_FILLING_FOK}),  # instant: no price
    (c.TRADE_RETCODE_INVALID_FILL, {"type_filling": c.ORDER_FILLING_RETURN}),  # GBPUSD: market execution
    (c.TRADE_RETCODE_INVALID_FILL, {"symbol": "EURUSD", "type_filling": c.ORDER_FILLING_IOC}),  # FOK only
    (c.TRADE_RETCODE_INVALID_FILL, {"symbol": "USDJPY", "type_filling": c.ORDER_FILLING_FOK}),  # IOC only
    (c.TRADE_RETCODE_INVALID_EXPIRATION, {"action": c.TRADE_ACTION_PENDING, "type": c.ORDER_TYPE_BUY_LIMIT,
                                          "price": 1.0, "type_time": c.ORDER_TIME_SPECIFIED, "expiration": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("retcode", "fields"), REFUSALS, ids=lambda v: str(v))
def test_refused_requests_change_nothing(sim: SimulatedTerminal, retcode: int, fields: dict[str, Any]) -> None:
    if fields.get("sl") == "bid-5pt":  # XAUUSD's stops level is 10 points: 5 points below Bid is too close
        tick = sim.symbol_info_tick("XAUUSD")
        fields = fields | {"sl": round(tick.bid - 0.05, 2)}  # type: ignore[union-attr]
    before = sim.account_info()
    result = send(sim, **fields)
    assert (retcode, result.request) == (result.retcode, result.request)
    assert (0, 0, 0.0) == (result.deal, result.order, result.volume) and result.comment
    assert ((), (), before) == (sim.positions_get(), sim.orders_get(), sim.account_info())
    assert {} == sim.trade_store.executions_by_comment()


def test_a_closed_session_answers_market_closed_and_crypto_still_trades() -> None:
    sim = terminal(at=SATURDAY)
    assert c.TRADE_RETCODE_MARKET_CLOSED == send(sim).retcode
    assert c.TRADE_RETCODE_DONE == send(sim, symbol="BTCUSD", volume=0.01).retcode


def test_an_account_the_server_refuses_to_trade_answers_10017_or_10026() -> None:
    locked = A.model_copy(update={"trade_allowed": False})
    assert c.TRADE_RETCODE_TRADE_DISABLED == send(terminal(locked)).retcode
    no_experts = A.model_copy(update={"trade_expert": False})
    sim = terminal(no_experts)
    info = sim.account_info()
    assert info is not None and (True, False) == (info.trade_allowed, info.trade_expert)
    assert (c.TRADE_RETCODE_SERVER_DISABLES_AT, "AutoTrading disabled by server") == (
        send(sim).retcode, send(sim).comment)  # fmt: skip


def test_switching_accounts_turns_algo_trading_off_until_enabled_again() -> None:
    sim = terminal(disable_algo_on_switch=True)
    assert sim.login(A.login, server=A.server)  # the same account again: no switch
    assert c.TRADE_RETCODE_DONE == send(sim).retcode
    assert sim.login(B.login, B.password.get_secret_value(), B.server)
    assert sim.terminal_info().trade_allowed is False  # type: ignore[union-attr]
    refused = send(sim)
    assert (c.TRADE_RETCODE_CLIENT_DISABLES_AT, "AutoTrading disabled by client", 0, 0) == (
        refused.retcode, refused.comment, refused.request_id, refused.order)  # fmt: skip
    assert c.TRADE_RETCODE_CLIENT_DISABLES_AT == sim.order_check(BUY).retcode  # type: ignore[union-attr]
    sim.enable_algo_trading()
    assert sim.terminal_info().trade_allowed is True  # type: ignore[union-attr]
    assert c.TRADE_RETCODE_DONE == send(sim).retcode


def test_without_the_option_a_switch_leaves_algo_trading_on() -> None:
    sim = terminal()
    assert sim.login(B.login, B.password.get_secret_value(), B.server)
    assert c.TRADE_RETCODE_DONE == send(sim).retcode


def test_an_after_fault_executes_the_order_then_fails_the_call(sim: SimulatedTerminal) -> None:
    sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)
    assert sim.order_send(BUY | {"comment": "lost-reply"}) is None
    assert (-10002, "IPC recv failed") == sim.last_error()
    assert ["lost-reply"] == [p.comment for p in sim.positions_get() or ()]
    assert {"lost-reply": 1} == sim.trade_store.executions_by_comment()
    assert c.TRADE_RETCODE_DONE == send(sim).retcode  # the next call is not faulted


def test_a_plain_fault_fails_before_anything_executes(sim: SimulatedTerminal) -> None:
    sim.inject_fault("order_send", fail_first=1, code=-10002)
    assert sim.order_send(BUY) is None
    assert ((-10002, "IPC recv failed"), ()) == (sim.last_error(), sim.positions_get())


def test_after_faults_and_the_store_come_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mt5_worker.backends import simulated_terminal

    monkeypatch.setenv("MT5_SIMULATOR_FAULTS", '{"order_send": {"rate": 1.0, "code": -10002, "after": true}}')
    monkeypatch.setenv("MT5_SIMULATOR_TRADE_STORE", str(tmp_path / "servers.sqlite3"))
    monkeypatch.setenv("MT5_SIMULATOR_CLOCK_OFFSET", "0")  # the test's own clock says when it is
    settings = Settings.load(_env_file=None)
    sim = simulated_terminal(settings, clock=ManualClock(WEDNESDAY))
    assert tmp_path / "servers.sqlite3" == sim.trade_store.path
    assert sim.initialize(login=10000005, password="demo-10000005", server="MetaQuotes-Demo")
    before = sim.positions_total() or 0
    assert sim.order_send(BUY) is None and (-10002, "IPC recv failed") == sim.last_error()
    assert before + 1 == sim.positions_total()


def test_order_check_agrees_with_order_send(sim: SimulatedTerminal) -> None:
    requests = [BUY | fields for _, fields in REFUSALS if fields.get("sl") != "bid-5pt"]
    requests += [BUY, BUY | {"volume": 0.2, "type": c.ORDER_TYPE_SELL}, BUY | {"symbol": "BTCUSD", "volume": 0.01}]
    for request in requests:
        check, sent = sim.order_check(request), sim.order_send(request)
        assert check is not None and sent is not None
        expected = sent.retcode if sent.retcode not in (c.TRADE_RETCODE_DONE, c.TRADE_RETCODE_PLACED) else 0
        assert (request, expected) == (request, check.retcode)


def test_argument_errors_are_the_sdks(sim: SimulatedTerminal) -> None:
    assert sim.order_send(request=BUY) is None  # type: ignore[call-arg]
    assert (-2, "Invalid parameters") == sim.last_error()
    assert sim.order_send() is None  # type: ignore[call-arg]
    assert (-2, "Invalid number of arguments") == sim.last_error()
    for bad in ([("action", 1)], BUY | {"volume": "0.1"}, BUY | {"magic": 1.5}, BUY | {"type": True}, BUY | {"x": 1}):
        assert sim.order_send(bad) is None  # type: ignore[arg-type]
        assert (-2, 'Invalid "request" argument') == sim.last_error()
    for comment in ("x" * 32, "bad \udc80 half"):
        assert sim.order_send(BUY | {"comment": comment}) is None
        assert (-2, 'Invalid "comment" argument') == sim.last_error()
    assert "y" * 31 == send(sim, comment="y" * 31).request.comment
    assert c.TRADE_RETCODE_DONE == send(sim, volume=1).retcode  # an int volume is a float


def test_without_connection_or_account_order_send_fails_like_the_other_functions() -> None:
    sim = SimulatedTerminal((A,), clock=ManualClock(WEDNESDAY))
    assert sim.order_send(BUY) is None and (-10004, "No IPC connection") == sim.last_error()
    assert sim.initialize()  # no account yet
    assert sim.order_send(BUY) is None and (-1, "Terminal: Call failed") == sim.last_error()


def test_order_send_costs_its_realistic_latency() -> None:
    from mt5_worker.simulator.specs import LATENCY_PROFILES

    clock = ManualClock(WEDNESDAY)
    sim = SimulatedTerminal((A,), clock=clock, sleep=clock.sleep, latency=LATENCY_PROFILES["realistic"])
    sim.initialize(login=A.login, password=A.password.get_secret_value(), server=A.server)
    clock.sleeps.clear()
    sim.order_send(BUY)
    assert [0.02] == clock.sleeps


@pytest.mark.parametrize(
    ("mode", "kind", "retcode"),
    [
        (c.SYMBOL_TRADE_MODE_DISABLED, c.ORDER_TYPE_BUY, c.TRADE_RETCODE_TRADE_DISABLED),
        (c.SYMBOL_TRADE_MODE_CLOSEONLY, c.ORDER_TYPE_BUY, c.TRADE_RETCODE_CLOSE_ONLY),
        (c.SYMBOL_TRADE_MODE_LONGONLY, c.ORDER_TYPE_SELL, c.TRADE_RETCODE_LONG_ONLY),
        (c.SYMBOL_TRADE_MODE_SHORTONLY, c.ORDER_TYPE_BUY, c.TRADE_RETCODE_SHORT_ONLY),
        (c.SYMBOL_TRADE_MODE_LONGONLY, c.ORDER_TYPE_BUY, c.TRADE_RETCODE_DONE),
    ],
)
def test_a_symbols_trade_mode_limits_what_opens(mode: int, kind: int, retcode: int) -> None:
    from dataclasses import replace

    from mt5_worker.simulator.market import SYMBOLS, Market
    from mt5_worker.simulator.trade_rules import Desk, judge
    from mt5_worker.terminal.records import TradeRequest

    symbols = [replace(s, trade_mode=mode) if s.name == "GBPUSD" else s for s in SYMBOLS]
    desk = Desk(Market(A.server, symbols=symbols), A, int(WEDNESDAY * 1000), A.balance, (), ())
    request = TradeRequest(c.TRADE_ACTION_DEAL, 0, 0, "GBPUSD", 0.1, 0.0, 0.0, 0.0, 0.0, 0, kind, 0, 0, 0, "", 0, 0)
    assert retcode == judge(request, desk).retcode
