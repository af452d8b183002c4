"""The simulated trade server between requests: pending orders trigger and fill, SL and TP close positions, a
stop-out closes the largest loser, orders expire, swaps and commissions are charged; each at the tick the market's
own deterministic ticks say (the ground truth is those ticks, read from another terminal whose clock is later), and
played once whichever terminal looks first. Hypothesis drives random sequences: balance plus floating profit is
always equity, the balance is always the deals' sum, and no position closes twice."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.simulator.specs import AccountSpec
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import OrderSendResult
from tests.conftest import ManualClock

pytestmark = pytest.mark.market_hours  # reads the market and trades: see docs/testing.md#time

WED = 1_795_617_000.0  # 2026-11-25 14:30 UTC (server time), a Wednesday: every market open
DAY = 86_400
A = AccountSpec(login=7101, password=SecretStr("pw-7101-life"), server="Life-Test", balance=10_000.0, trades=False)
TINY = 0.00002  # two GBPUSD points


def terminal(account: AccountSpec = A, at: float = WED, **kwargs: Any) -> tuple[SimulatedTerminal, ManualClock]:
    clock = ManualClock(at)
    sim = SimulatedTerminal([account], clock=clock, **kwargs)
    assert sim.initialize(login=account.login, password=account.password.get_secret_value(), server=account.server)
    return sim, clock


def future(symbol: str, after: float, seconds: float, account: AccountSpec = A) -> Any:
    """The ticks of ``symbol`` after ``after`` for ``seconds``: read from a terminal whose clock is already there."""
    oracle, _ = terminal(account, at=after + seconds + 1)
    ticks = oracle.copy_ticks_range(symbol, int(after), int(after + seconds), c.COPY_TICKS_ALL)
    assert ticks is not None and len(ticks) > 10
    return ticks[ticks["time_msc"] > int(after * 1000)]


def send(sim: SimulatedTerminal, request: dict[str, Any]) -> OrderSendResult:
    result = sim.order_send(request)
    assert result is not None, sim.last_error()
    return result


def market(symbol: str, kind: int, volume: float, **more: Any) -> dict[str, Any]:
    return {"action": c.TRADE_ACTION_DEAL, "symbol": symbol, "volume": volume, "type": kind} | more


def pending(kind: int, price: float, **more: Any) -> dict[str, Any]:
    return {"action": c.TRADE_ACTION_PENDING, "symbol": "GBPUSD", "volume": 0.1, "type": kind, "price": price} | more


# (type, which side triggers it, the price from the next hour's ticks, the condition on that side)
ORDERS = {
    "buy_limit": (c.ORDER_TYPE_BUY_LIMIT, "ask", lambda s: s.min() + TINY, lambda s, p: s <= p),
    "sell_limit": (c.ORDER_TYPE_SELL_LIMIT, "bid", lambda s: s.max() - TINY, lambda s, p: s >= p),
    "buy_stop": (c.ORDER_TYPE_BUY_STOP, "ask", lambda s: s.max() - TINY, lambda s, p: s >= p),
    "sell_stop": (c.ORDER_TYPE_SELL_STOP, "bid", lambda s: s.min() + TINY, lambda s, p: s <= p),
}


@pytest.mark.parametrize("name", list(ORDERS))
def test_a_pending_order_fills_at_the_first_tick_that_reaches_it(name: str) -> None:
    kind, side, choose, reached = ORDERS[name]
    sim, clock = terminal()
    ticks = future("GBPUSD", WED, 3600)
    price = round(float(choose(ticks[side])), 5)
    sl = round(price - 0.02, 5) if kind % 2 == 0 else round(price + 0.02, 5)
    placed = send(sim, pending(kind, price, sl=sl, magic=9, comment="life"))
    assert placed.retcode == c.TRADE_RETCODE_PLACED, placed
    hit = ticks[np.flatnonzero(reached(ticks[side], price))[0]]
    clock.advance(3600)
    (position,) = sim.positions_get() or ()
    expected = (placed.order, kind % 2, float(hit[side]), int(hit["time_msc"]), sl, 9, "life", 0.1)
    assert expected == (position.ticket, position.type, position.price_open, position.time_msc, position.sl,
                        position.magic, position.comment, position.volume)  # fmt: skip
    (order,) = sim.history_orders_get(ticket=placed.order) or ()
    assert (c.ORDER_STATE_FILLED, int(hit["time_msc"])) == (order.state, order.time_done_msc)
    (deal,) = sim.history_deals_get(position=placed.order) or ()
    assert (c.DEAL_ENTRY_IN, c.REASON_EXPERT, "life", placed.order) == (deal.entry, deal.reason, deal.comment,
                                                                       deal.order)  # fmt: skip
    assert sim.orders_get() == ()


def test_a_stop_limit_becomes_a_limit_order_then_fills() -> None:
    sim, clock = terminal()
    ticks = future("GBPUSD", WED, 7200)
    stop = round(float(ticks["ask"][: len(ticks) // 2].max()) - TINY, 5)
    activated = np.flatnonzero(ticks["ask"] >= stop)[0]
    later = ticks[activated + 1 :]
    limit = round(float(later["ask"].min()) + TINY, 5)
    assert limit < stop
    placed = send(sim, pending(c.ORDER_TYPE_BUY_STOP_LIMIT, stop, stoplimit=limit))
    assert placed.retcode == c.TRADE_RETCODE_PLACED, placed
    clock.now = float(ticks["time_msc"][activated]) / 1000 + 0.0005
    (order,) = sim.orders_get() or ()
    assert (order.type, order.price_open) == (c.ORDER_TYPE_BUY_LIMIT, limit)  # the same ticket, now a limit
    hit = later[np.flatnonzero(later["ask"] <= limit)[0]]
    clock.now = WED + 7200
    (position,) = sim.positions_get() or ()
    assert (placed.order, float(hit["ask"]), int(hit["time_msc"])) == (position.ticket, position.price_open,
                                                                       position.time_msc)  # fmt: skip


@pytest.mark.parametrize("kind", ["sl", "tp"])
def test_sl_and_tp_close_at_the_first_tick_that_reaches_them(kind: str) -> None:
    sim, clock = terminal()
    ticks = future("GBPUSD", WED, 7200)
    if kind == "sl":  # a buy: its SL on the Bid, below
        opened = send(sim, market("GBPUSD", c.ORDER_TYPE_BUY, 0.2))
        level = round(float(ticks["bid"].min()) + TINY, 5)
        stops, side, reached = {"sl": level, "tp": 0.0}, "bid", ticks["bid"] <= level
    else:  # a sell: its TP on the Ask, below
        opened = send(sim, market("GBPUSD", c.ORDER_TYPE_SELL, 0.2))
        level = round(float(ticks["ask"].min()) + TINY, 5)
        stops, side, reached = {"sl": 0.0, "tp": level}, "ask", ticks["ask"] <= level
    assert send(sim, {"action": c.TRADE_ACTION_SLTP, "position": opened.order, **stops}).retcode == 10009
    hit = ticks[np.flatnonzero(reached)[0]]
    clock.advance(7200)
    assert sim.positions_get() == ()
    deals = sim.history_deals_get(position=opened.order) or ()
    exit_deal = deals[-1]
    reason = c.REASON_SL if kind == "sl" else c.REASON_TP
    assert (c.DEAL_ENTRY_OUT, reason, float(hit[side]), int(hit["time_msc"])) == (
        exit_deal.entry, exit_deal.reason, exit_deal.price, exit_deal.time_msc)  # fmt: skip
    assert exit_deal.comment == f"[{kind} {level:.5f}]"
    gain = sim.order_calc_profit(1 - exit_deal.type, "GBPUSD", 0.2, opened.price, exit_deal.price)
    info = sim.account_info()
    assert info is not None and gain is not None and info.balance == round(10_000.0 + gain, 2) == info.equity


def test_a_stop_out_closes_the_largest_loser_at_the_tick_the_margin_level_falls_to_30_percent() -> None:
    ticks = future("BTCUSD", WED, 7200)
    bid0, ask0 = float(ticks["bid"][0]), float(ticks["ask"][0])
    buy = (bid0 - ticks["bid"].min()) >= (ticks["ask"].max() - ask0)  # the way the market goes against most
    kind = c.ORDER_TYPE_BUY if buy else c.ORDER_TYPE_SELL
    account = A.model_copy(update={"login": 7102, "leverage": 500, "balance": 300.0})
    sim, clock = terminal(account, at=WED)
    big, small = send(sim, market("BTCUSD", kind, 0.6)), send(sim, market("BTCUSD", kind, 0.4))
    assert (big.retcode, small.retcode) == (10009, 10009)
    info = sim.account_info()
    assert info is not None and info.margin_level > 30
    margin, balance = info.margin, info.balance
    close = ticks["bid"] if buy else ticks["ask"]
    floating = (close - big.price) * 0.6 + (close - small.price) * 0.4
    floating = floating if buy else -floating
    level = (balance + floating) / margin * 100
    falls = np.flatnonzero(level <= 30)
    assert len(falls), "the market must go against the account within two hours for this test to mean something"
    hit = ticks[falls[0]]
    clock.advance(7200)
    out = [d for d in sim.history_deals_get(int(WED) - 60, int(WED) + 8000) or () if d.entry == c.DEAL_ENTRY_OUT]
    assert out and all(d.reason == c.REASON_SO for d in out)
    first = out[0]
    assert (first.position_id, first.time_msc, first.price) == (big.order, int(hit["time_msc"]), float(close[falls[0]]))
    assert first.comment.startswith("[so ") and first.comment.endswith("]")
    remaining = sim.account_info()
    assert remaining is not None and (remaining.margin == 0 or remaining.margin_level > 30)


def test_short_spans_where_a_symbol_has_no_tick_change_nothing() -> None:
    """Positions in several symbols, read a fraction of a second apart: many spans hold ticks of one symbol and
    none of the other."""
    sim, clock = terminal()
    send(sim, market("GBPUSD", c.ORDER_TYPE_BUY, 0.1))
    send(sim, market("BTCUSD", c.ORDER_TYPE_SELL, 0.01, type_filling=c.ORDER_FILLING_IOC))
    for _ in range(100):
        clock.advance(0.2)
        info = sim.account_info()
        assert info is not None and len(sim.positions_get() or ()) == 2


def test_orders_expire_at_their_time_their_day_or_the_trade_day() -> None:
    sim, clock = terminal()
    far = round(float(future("GBPUSD", WED, 60)["ask"][0]) - 0.05, 5)  # never reached
    midnight = (int(WED) // DAY + 1) * DAY
    specified = send(sim, pending(c.ORDER_TYPE_BUY_LIMIT, far, type_time=c.ORDER_TIME_SPECIFIED,
                                  expiration=int(WED) + 120))  # fmt: skip
    day = send(sim, pending(c.ORDER_TYPE_BUY_LIMIT, far, type_time=c.ORDER_TIME_DAY))
    that_day = send(sim, pending(c.ORDER_TYPE_BUY_LIMIT, far, type_time=c.ORDER_TIME_SPECIFIED_DAY,
                                 expiration=int(WED) + 60))  # fmt: skip
    gtc = send(sim, pending(c.ORDER_TYPE_BUY_LIMIT, far))
    clock.advance(121)
    assert {o.ticket for o in sim.orders_get() or ()} == {day.order, that_day.order, gtc.order}
    (gone,) = sim.history_orders_get(ticket=specified.order) or ()
    assert (c.ORDER_STATE_EXPIRED, (int(WED) + 120) * 1000) == (gone.state, gone.time_done_msc)
    clock.now = midnight + 1.0
    assert {o.ticket for o in sim.orders_get() or ()} == {gtc.order}
    for ticket in (day.order, that_day.order):
        (order,) = sim.history_orders_get(ticket=ticket) or ()
        assert (c.ORDER_STATE_EXPIRED, midnight * 1000) == (order.state, order.time_done_msc)


def test_swaps_are_charged_at_each_rollover_three_times_on_wednesday_and_realised_on_close() -> None:
    sim, clock = terminal()
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None
    opened = send(sim, market("EURUSD", c.ORDER_TYPE_BUY, 1.0, price=tick.ask, deviation=10))
    per_night = -7.2  # swap_long points x point x contract size x 1 lot, in USD
    midnight = (int(WED) // DAY + 1) * DAY  # Wednesday's rollover: three nights
    for at, nights in ((midnight - 1, 0), (midnight + 1, 3), (midnight + DAY + 1, 4)):
        clock.now = float(at)
        (position,) = sim.positions_get() or ()
        info = sim.account_info()
        assert info is not None and position.swap == round(nights * per_night, 2)
        assert info.equity == round(info.balance + position.profit + position.swap, 2)
    now = sim.symbol_info_tick("EURUSD")
    assert now is not None
    closed = send(sim, market("EURUSD", c.ORDER_TYPE_SELL, 1.0, position=opened.order, price=now.bid, deviation=10))
    (exit_deal,) = sim.history_deals_get(ticket=closed.deal) or ()
    assert exit_deal.swap == round(4 * per_night, 2)
    info = sim.account_info()
    assert info is not None and info.balance == round(10_000.0 + exit_deal.profit + exit_deal.swap, 2)


def test_a_symbols_commission_is_charged_on_each_deal() -> None:
    sim, _ = terminal()
    opened = send(sim, market("XAUUSD", c.ORDER_TYPE_BUY, 0.1, type_filling=c.ORDER_FILLING_FOK))
    (entry,) = sim.history_deals_get(ticket=opened.deal) or ()
    assert entry.commission == -0.3  # 3.0 USD a lot on each deal
    info = sim.account_info()
    assert info is not None and info.balance == 9_999.7
    closed = send(sim, market("XAUUSD", c.ORDER_TYPE_SELL, 0.1, position=opened.order,
                              type_filling=c.ORDER_FILLING_FOK))  # fmt: skip
    (exit_deal,) = sim.history_deals_get(ticket=closed.deal) or ()
    info = sim.account_info()
    assert info is not None and info.balance == round(9_999.7 + exit_deal.profit - 0.3, 2)


def test_two_terminals_looking_at_the_same_moment_fill_an_order_once(tmp_path: Any) -> None:
    """Two connections to one store (as two worker processes have) race to play the account forward."""
    store = tmp_path / "servers.sqlite3"
    first, clock = terminal(trade_store=store)
    ticks = future("GBPUSD", WED, 3600)
    price = round(float(ticks["ask"].min()) + TINY, 5)
    placed = send(first, pending(c.ORDER_TYPE_BUY_LIMIT, price))
    terminals = [terminal(trade_store=store)[0] for _ in range(4)]
    for sim in terminals:
        sim._clock = lambda: WED + 3600  # type: ignore[method-assign]
    clock.advance(3600)
    barrier = threading.Barrier(len(terminals))
    seen: list[Any] = []

    def look(sim: SimulatedTerminal) -> None:
        barrier.wait()
        seen.append(sim.positions_get())

    threads = [threading.Thread(target=look, args=(sim,)) for sim in terminals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(found) == 1 and found[0].ticket == placed.order for found in seen)
    deals = first.history_deals_get(position=placed.order) or ()
    assert len(deals) == 1 and first.positions_total() == 1


# --- random sequences --------------------------------------------------------------------------------------------

Step = tuple[str, float, float]
steps = st.lists(
    st.tuples(st.sampled_from(["buy", "sell", "stops", "pending", "close", "wait"]),
              st.floats(0.01, 1.0), st.floats(0.0002, 0.003)),
    min_size=3, max_size=14,
)  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_sequences_keep_the_books_straight(sequence: list[Step]) -> None:
    sim, clock = terminal(A.model_copy(update={"leverage": 500}))
    for action, size, distance in sequence:
        _step(sim, clock, action, size, distance)
        info = sim.account_info()
        positions = sim.positions_get() or ()
        deals = sim.history_deals_get(0, 2**33) or ()
        assert info is not None
        floating = round(sum(p.profit + p.swap for p in positions), 2)
        assert abs(info.equity - (info.balance + floating)) < 0.011
        assert abs(info.balance - (10_000.0 + sum(d.profit + d.swap + d.commission for d in deals))) < 0.011
        held: dict[int, float] = {}
        for d in deals:  # no position closes twice, nor more than it held
            held[d.position_id] = round(held.get(d.position_id, 0.0) + (d.volume if d.entry == 0 else -d.volume), 8)
            assert held[d.position_id] >= 0
        assert {p.ticket for p in positions} == {t for t, v in held.items() if v > 0}


def _step(sim: SimulatedTerminal, clock: ManualClock, action: str, size: float, distance: float) -> None:
    tick = sim.symbol_info_tick("GBPUSD")
    positions = sim.positions_get() or ()
    assert tick is not None
    lots = round(max(0.01, size), 2)
    if action in ("buy", "sell"):
        kind = c.ORDER_TYPE_BUY if action == "buy" else c.ORDER_TYPE_SELL
        sim.order_send(market("GBPUSD", kind, lots))
    elif action == "stops" and positions:
        p = positions[0]
        buy = p.type == c.POSITION_TYPE_BUY
        sl = round(tick.bid - distance if buy else tick.ask + distance, 5)
        tp = round(tick.bid + distance if buy else tick.ask - distance, 5)
        sim.order_send({"action": c.TRADE_ACTION_SLTP, "position": p.ticket, "sl": sl, "tp": tp})
    elif action == "pending":
        kind = c.ORDER_TYPE_BUY_LIMIT if size < 0.5 else c.ORDER_TYPE_SELL_STOP
        sim.order_send(pending(kind, round(tick.ask - distance if kind == c.ORDER_TYPE_BUY_LIMIT else
                                           tick.bid - distance, 5), volume=lots))  # fmt: skip
    elif action == "close" and positions:
        p = positions[-1]
        part = round(min(p.volume, lots), 2)
        sim.order_send(market("GBPUSD", 1 - p.type, part, position=p.ticket))
    else:
        clock.advance(size * 3600)
