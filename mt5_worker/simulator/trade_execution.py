"""What an accepted trade request changes on the simulated trade server: the orders, deals and positions it makes.

:func:`execute` turns a request the rules accepted (:func:`~mt5_worker.simulator.trade_rules.judge`) into
:class:`~mt5_worker.simulator.trade_store.Changes` and the ``OrderSendResult``'s ticket fields, as a hedging
account's server does: a deal without ``position`` opens a new position whose ticket is its order's; with
``position`` it closes that position (partly if the volume is smaller) with an exit deal carrying the realised
profit and the closed volume's share of the position's swap; each deal carries the symbol's commission. A pending
order waits in the orders until it is removed, or until the market triggers or expires it
(:mod:`~mt5_worker.simulator.trade_life`). Comments are kept verbatim on the order, the deal and the position.
Pure: tickets come from ``ticket()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mt5_worker.simulator.trade_rules import Desk, Verdict
from mt5_worker.simulator.trade_store import Changes, Execution
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import TradeDeal, TradeOrder, TradePosition, TradeRequest


@dataclass(frozen=True)
class Outcome:
    """The ``OrderSendResult`` fields an execution fills in, and what it writes."""

    deal: int
    order: int
    volume: float
    price: float
    changes: Changes


def execute(r: TradeRequest, verdict: Verdict, desk: Desk, ticket: Callable[[], int]) -> Outcome:
    """The changes of an accepted request (``verdict.accepted``)."""
    if r.action == c.TRADE_ACTION_DEAL:
        return _deal(r, verdict, desk, ticket)
    if r.action == c.TRADE_ACTION_PENDING:
        return _place(r, verdict, desk, ticket)
    if r.action == c.TRADE_ACTION_CLOSE_BY:
        return _close_by(r, verdict, desk, ticket)
    changes = _changes(r, verdict, desk, 0, 0)
    if r.action == c.TRADE_ACTION_SLTP:
        assert verdict.position is not None
        p = verdict.position
        changes.positions.append(p._replace(sl=r.sl, tp=r.tp, time_update=desk.now_ms // 1000,
                                            time_update_msc=desk.now_ms))  # fmt: skip
        changes.taken.append(p.ticket)
        return Outcome(0, 0, 0.0, 0.0, changes)
    assert verdict.order is not None
    o = verdict.order
    changes.taken.append(o.ticket)
    changes.execution = _execution(changes)._replace(order=o.ticket)
    if r.action == c.TRADE_ACTION_REMOVE:
        changes.removed_orders.append(o.ticket)
        changes.history_orders.append(o._replace(state=c.ORDER_STATE_CANCELED, time_done=desk.now_ms // 1000,
                                                 time_done_msc=desk.now_ms))  # fmt: skip
    else:  # MODIFY
        changes.orders.append(o._replace(price_open=r.price, sl=r.sl, tp=r.tp, price_stoplimit=r.stoplimit,
                                         type_time=r.type_time, time_expiration=r.expiration))  # fmt: skip
    return Outcome(0, o.ticket, 0.0, 0.0, changes)


def _deal(r: TradeRequest, verdict: Verdict, desk: Desk, ticket: Callable[[], int]) -> Outcome:
    now, price, volume = desk.now_ms, verdict.price, r.volume
    order, deal = ticket(), ticket()
    closing = verdict.position
    symbol = closing.symbol if closing is not None else r.symbol
    position = closing.ticket if closing is not None else order  # a new position takes its order's ticket
    changes = _changes(r, verdict, desk, order, deal)
    changes.history_orders.append(_filled_order(r, order, now, symbol, position, price))
    gain = swap = 0.0
    spec = desk.spec(symbol)
    assert spec is not None
    if closing is None:
        changes.positions.append(TradePosition(position, now // 1000, now, now // 1000, now, r.type, r.magic, position,
                                               c.REASON_EXPERT, volume, price, r.sl, r.tp, price, 0.0, 0.0, symbol,
                                               r.comment, ""))  # fmt: skip
    else:
        gain = desk.profit_of(spec, closing.type, volume, closing.price_open, price)
        swap = _share(closing, volume)
        _reduce(changes, closing, volume, now)
    entry = c.DEAL_ENTRY_IN if closing is None else c.DEAL_ENTRY_OUT
    changes.deals.append(_deal_record(deal, order, now, r.type, entry, r.magic, position, volume, price, gain, symbol,
                                      r.comment, desk.commission_of(spec, volume), swap))  # fmt: skip
    return Outcome(deal, order, volume, price, changes)


def _share(position: TradePosition, volume: float) -> float:
    """The part of a position's swap so far that closing ``volume`` of it realises."""
    return round(position.swap * volume / position.volume, 2) if position.volume else 0.0


def _place(r: TradeRequest, verdict: Verdict, desk: Desk, ticket: Callable[[], int]) -> Outcome:
    now, order = desk.now_ms, ticket()
    tick = verdict.tick
    current = 0.0 if tick is None else (tick.ask if r.type % 2 == 0 else tick.bid)
    changes = _changes(r, verdict, desk, order, 0)
    changes.orders.append(TradeOrder(order, now // 1000, now, 0, 0, r.expiration, r.type, r.type_time, r.type_filling,
                                     c.ORDER_STATE_PLACED, r.magic, 0, 0, c.REASON_EXPERT, r.volume, r.volume, r.price,
                                     r.sl, r.tp, current, r.stoplimit, r.symbol, r.comment, ""))  # fmt: skip
    return Outcome(0, order, r.volume, 0.0, changes)


def _close_by(r: TradeRequest, verdict: Verdict, desk: Desk, ticket: Callable[[], int]) -> Outcome:
    """Both positions lose the smaller one's volume: ``position`` is closed at ``position_by``'s open price (the
    pair's whole profit on its deal), ``position_by`` at its own (no profit)."""
    first, second = verdict.position, verdict.opposite
    assert first is not None and second is not None
    spec = desk.spec(first.symbol)
    assert spec is not None
    now, volume, price = desk.now_ms, min(first.volume, second.volume), second.price_open
    order = ticket()
    changes = _changes(r, verdict, desk, order, 0)
    changes.history_orders.append(
        _filled_order(r, order, now, first.symbol, first.ticket, price)._replace(
            type=c.ORDER_TYPE_CLOSE_BY, position_by_id=second.ticket, volume_initial=volume
        )
    )
    gain = desk.profit_of(spec, first.type, volume, first.price_open, price)
    deals = []
    for position, at, made in ((first, price, gain), (second, price, 0.0)):
        deals.append(_deal_record(ticket(), order, now, 1 - position.type, c.DEAL_ENTRY_OUT_BY, r.magic,
                                  position.ticket, volume, at, made, first.symbol, r.comment,
                                  swap=_share(position, volume)))  # fmt: skip
        _reduce(changes, position, volume, now)
    changes.deals.extend(deals)
    changes.execution = _execution(changes)._replace(deal=deals[0].ticket)
    return Outcome(deals[0].ticket, order, volume, price, changes)


def _changes(r: TradeRequest, verdict: Verdict, desk: Desk, order: int, deal: int) -> Changes:
    account = desk.account
    execution = Execution(account.server, account.login, desk.now_ms, r.action, verdict.retcode, order, deal,
                          r.comment)  # fmt: skip
    return Changes(execution)


def _execution(changes: Changes) -> Execution:
    assert changes.execution is not None  # a request's changes always carry its execution
    return changes.execution


def _reduce(changes: Changes, position: TradePosition, volume: float, now: int) -> None:
    """A position loses ``volume``: closed when nothing is left."""
    changes.taken.append(position.ticket)
    left = round(position.volume - volume, 8)
    if left > 0:
        changes.positions.append(position._replace(volume=left, time_update=now // 1000, time_update_msc=now))
    else:
        changes.closed_positions.append(position.ticket)


def _filled_order(r: TradeRequest, order: int, now: int, symbol: str, position: int, price: float) -> TradeOrder:
    return TradeOrder(order, now // 1000, now, now // 1000, now, 0, r.type, r.type_time, r.type_filling,
                      c.ORDER_STATE_FILLED, r.magic, position, 0, c.REASON_EXPERT, r.volume, 0.0, price, r.sl, r.tp,
                      price, 0.0, symbol, r.comment, "")  # fmt: skip


def _deal_record(ticket: int, order: int, now: int, kind: int, entry: int, magic: int, position: int, volume: float,
                 price: float, gain: float, symbol: str, comment: str, commission: float = 0.0,
                 swap: float = 0.0) -> TradeDeal:  # fmt: skip
    return TradeDeal(ticket, order, now // 1000, now, kind, entry, magic, position, c.REASON_EXPERT, volume, price,
                     commission, swap, gain, 0.0, symbol, comment, "")  # fmt: skip
