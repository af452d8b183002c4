"""A simulated account's trading: open positions, pending orders, and its order and deal history.

Generated deterministically from the account's login, its trade server, the market seed and the day (the
simulated trades end before the current day starts, so the history is fixed within a day), over the server's
:class:`~mt5_worker.simulator.market.Market`: every price is a tick of that market's history (the first tick at or
after the chosen time), so trades agree with ``copy_ticks_*`` and ``copy_rates_*``. Tickets are the login (modulo
10**9) times 10**6 plus a sequence number: unique across accounts, as a trade server's are, and below 10**15,
where the trade server's own tickets start (:mod:`~mt5_worker.simulator.trade_store`). Without ``history`` only the
open positions and pending orders are drawn (the same ones; a fraction of the cost).

Money (docs/sdk-market-data.md, "Account side"; simplifications marked):

- margin = volume x contract size / leverage (FOREX), x price too for the CFD modes, in the margin currency,
  converted to the account currency at the market's current rates (simplification: one leverage for every
  mode; no margin rates, no hedged margin).
- profit = (close - open) x volume x contract size (sign by direction) in the profit currency, converted to the
  account currency at the market's current rates (simplification: the real terminal uses the rate at each
  deal's time for closed trades).
- swap (:func:`swap_at`): the symbol's ``swap_long``/``swap_short`` points (``SYMBOL_SWAP_MODE_POINTS``) x point x
  contract size x volume per rollover, at each server midnight a position is held over, the rollover ending a
  weekday, three times on ``SWAP_ROLLOVER3DAYS`` (Wednesday), none ending a Saturday or a Sunday; in the profit
  currency, converted. Only the trade server's own positions (what ``order_send`` and its orders opened) carry a
  swap: the generated ones' is 0, as their commission, so their history stays fixed.
- commission (:func:`commission_at`): the symbol's ``commission`` per lot on each of the server's deals (entry and
  exit), in the profit currency, converted; negative on the deal.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mt5_worker.simulator.market import HISTORY_START, Market, SymbolSpec, stable_hash
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import TradeDeal, TradeOrder, TradePosition

HISTORY_DAYS = 90
DAY_MS = 86_400_000
SWAP_ROLLOVER3DAYS = 3  # SymbolInfo.swap_rollover3days: Wednesday (0 = Sunday)
TICKETS_PER_ACCOUNT = 10**6
LEDGER_LOGINS = 10**9  # logins are taken modulo this in tickets, which so stay below 10**15
MAGIC = 20261126  # what the simulated expert marks its trades with


@dataclass(frozen=True)
class Ledger:
    """One account's trading on one day."""

    login: int
    positions: tuple[TradePosition, ...]  # price_current and profit as of the ledger's making
    orders: tuple[TradeOrder, ...]  # pending, placed
    history_orders: tuple[TradeOrder, ...]  # by time_setup
    deals: tuple[TradeDeal, ...]  # by time


def profit(spec: SymbolSpec, market: Market, action: int, volume: float, price_open: float, price_close: float,
           currency: str, now_ms: int) -> float:  # fmt: skip
    return profit_at(spec, action, volume, price_open, price_close, market.rate(spec.currency_profit, currency, now_ms))


def profit_at(spec: SymbolSpec, action: int, volume: float, price_open: float, price_close: float,
              rate: float) -> float:  # fmt: skip
    """:func:`profit` with the profit currency's rate to the account's given."""
    sign = 1.0 if action == c.ORDER_TYPE_BUY else -1.0
    return round(sign * (price_close - price_open) * volume * spec.contract_size * rate, 2)


def rollovers(open_ms: int, now_ms: int) -> int:
    """Rollovers a position opened at ``open_ms`` was held over by ``now_ms`` (server midnights, each counted by the
    weekday it ends: 1 Monday to Friday, 3 on :data:`SWAP_ROLLOVER3DAYS`, 0 Saturday and Sunday)."""
    count = 0
    for midnight in range(open_ms // DAY_MS + 1, now_ms // DAY_MS + 1):  # days since the epoch, each a midnight
        weekday = (midnight - 1 + 4) % 7  # of the day it ends; 1970-01-01 was a Thursday (4), Sunday is 0
        count += 0 if weekday in (0, 6) else 3 if weekday == SWAP_ROLLOVER3DAYS else 1
    return count


def swap_at(spec: SymbolSpec, kind: int, volume: float, open_ms: int, now_ms: int, rate: float) -> float:
    """A position's swap by ``now_ms`` (see the module doc), in the account currency at ``rate``."""
    points = spec.swap_long if kind == c.POSITION_TYPE_BUY else spec.swap_short
    count = rollovers(open_ms, now_ms) if points else 0
    return round(count * points * spec.point * spec.contract_size * volume * rate, 2) if count else 0.0


def commission_at(spec: SymbolSpec, volume: float, rate: float) -> float:
    """The commission of one deal of ``volume`` lots (negative), in the account currency at ``rate``."""
    return round(-spec.commission * volume * rate, 2) if spec.commission else 0.0


def margin(spec: SymbolSpec, market: Market, volume: float, price: float, leverage: int, currency: str,
           now_ms: int) -> float:  # fmt: skip
    return margin_at(spec, volume, price, leverage, market.rate(spec.currency_margin, currency, now_ms))


def margin_at(spec: SymbolSpec, volume: float, price: float, leverage: int, rate: float) -> float:
    """:func:`margin` with the margin currency's rate to the account's given."""
    notional = volume * spec.contract_size * (1.0 if spec.calc_mode == c.SYMBOL_CALC_MODE_FOREX else price)
    return round(notional / leverage * rate, 2)


def make_ledger(market: Market, login: int, seed: int, currency: str, now_ms: int, *, history: bool = True) -> Ledger:
    rng = random.Random(stable_hash(f"{market.server}\x00{login}\x00{seed}"))
    day_start = now_ms // 86_400_000 * 86_400
    end = day_start - 3600  # every simulated trade happens before the current day
    specs = [s for s in market.specs if s.trade_mode == c.SYMBOL_TRADE_MODE_FULL]
    counter = iter(range(1, TICKETS_PER_ACCOUNT))

    def ticket() -> int:
        return login % LEDGER_LOGINS * TICKETS_PER_ACCOUNT + next(counter)

    def tick_at(spec: SymbolSpec, when: int) -> tuple[int, float, float] | None:
        rows = market.get(spec.name).first_tick(when * 1000, end * 1000)  # type: ignore[union-attr]
        if rows is None:
            return None
        return int(rows[0]["time_msc"]), float(rows[0]["bid"]), float(rows[0]["ask"])

    def volume(spec: SymbolSpec) -> float:
        steps = rng.randint(1, 50)
        return round(min(spec.volume_max, spec.volume_min + (steps - 1) * spec.volume_step), 2)

    past: list[TradeOrder] = []
    deals: list[TradeDeal] = []
    start = end - HISTORY_DAYS * 86400
    if start < HISTORY_START:  # a clock before the market's history: no trading to show
        return Ledger(login, (), (), (), ())
    deals.append(_deal(ticket(), 0, start, c.DEAL_TYPE_BALANCE, c.DEAL_ENTRY_IN, 0, 0.0, 0.0, 10_000.0, "", "Deposit"))

    for _ in range(rng.randint(3, 30)):  # closed trades
        spec = rng.choice(specs)
        opened = rng.randint(start + 3600, end - 5 * 86400)
        closed = opened + rng.randint(600, 4 * 86400)
        kind, lots = rng.choice((c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL)), volume(spec)
        position, order, deal = ticket(), ticket(), ticket()
        if not history:  # the same draws and tickets, without the ticks
            continue
        entry = tick_at(spec, opened)
        exit_ = None if entry is None else tick_at(spec, max(closed, entry[0] // 1000 + 1))
        if entry is None or exit_ is None:  # no market between then and the day's end (a weekend): no trade
            continue
        _, open_price = _open(past, deals, spec, kind, lots, position, entry)
        msc, bid, ask = exit_
        close_price = ask if kind == c.ORDER_TYPE_SELL else bid
        past.append(_order(order, msc, msc, 1 - kind, c.ORDER_STATE_FILLED, position, lots, 0.0, close_price, spec))
        gain = profit(spec, market, kind, lots, open_price, close_price, currency, now_ms)
        deals.append(_deal(deal, order, msc // 1000, 1 - kind, c.DEAL_ENTRY_OUT, position, lots, close_price, gain,
                           spec.name, "", msc=msc))  # fmt: skip

    positions: list[TradePosition] = []
    for _ in range(rng.randint(0, 5)):  # open positions
        spec = rng.choice(specs)
        kind, lots = rng.choice((c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL)), volume(spec)
        position = ticket()
        got = tick_at(spec, rng.randint(start, end - 3600))
        if got is None:
            continue
        msc, price = _open(past, deals, spec, kind, lots, position, got)
        row = (position, msc // 1000, msc, msc // 1000, msc, kind, MAGIC, position, c.REASON_EXPERT, lots, price)
        positions.append(TradePosition(*row, 0.0, 0.0, price, 0.0, 0.0, spec.name, "", ""))

    orders: list[TradeOrder] = []
    for _ in range(rng.randint(0, 3)):  # pending orders, a distance from the last price
        spec = rng.choice(specs)
        when = end - rng.randint(3600, 5 * 86400)
        kind = rng.choice((c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_SELL_LIMIT, c.ORDER_TYPE_BUY_STOP,
                           c.ORDER_TYPE_SELL_STOP))  # fmt: skip
        points, lots = rng.randint(100, 1000), volume(spec)
        got = tick_at(spec, when)
        if got is None:
            continue
        msc, bid, ask = got
        below = kind in (c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_SELL_STOP)
        offset = round(points * spec.point, spec.digits)
        price = round((bid - offset) if below else (ask + offset), spec.digits)
        pending = _order(ticket(), msc, 0, kind, c.ORDER_STATE_PLACED, 0, lots, 0.0, price, spec)
        orders.append(pending._replace(volume_current=pending.volume_initial, price_current=bid))

    if not history:
        return Ledger(login, tuple(positions), tuple(orders), (), ())
    past.sort(key=lambda o: (o.time_setup_msc, o.ticket))
    deals.sort(key=lambda d: (d.time_msc, d.ticket))
    return Ledger(login, tuple(positions), tuple(orders), tuple(past), tuple(deals))


def _open(history: list[TradeOrder], deals: list[TradeDeal], spec: SymbolSpec, kind: int, lots: float,
          position: int, got: tuple[int, float, float]) -> tuple[int, float]:  # fmt: skip
    """The order and the entry deal that opened ``position`` (its ticket is the opening order's, as in MT5)."""
    msc, bid, ask = got
    price = ask if kind == c.ORDER_TYPE_BUY else bid
    history.append(_order(position, msc, msc, kind, c.ORDER_STATE_FILLED, position, lots, 0.0, price, spec))
    deal = position + TICKETS_PER_ACCOUNT // 2  # a deal ticket of its own, apart from the order's
    deals.append(_deal(deal, position, msc // 1000, kind, c.DEAL_ENTRY_IN, position, lots, price, 0.0, spec.name, "",
                       msc=msc))  # fmt: skip
    return msc, price


def _order(ticket: int, setup_msc: int, done_msc: int, kind: int, state: int, position: int, lots: float,
           current: float, price: float, spec: SymbolSpec) -> TradeOrder:  # fmt: skip
    return TradeOrder(ticket, setup_msc // 1000, setup_msc, done_msc // 1000, done_msc, 0, kind, c.ORDER_TIME_GTC,
                      _filling(spec), state, MAGIC, position, 0, c.REASON_EXPERT, lots, current, price, 0.0, 0.0,
                      price, 0.0, spec.name, "", "")  # fmt: skip


def _deal(ticket: int, order: int, time: int, kind: int, entry: int, position: int, lots: float, price: float,
          gain: float, symbol: str, comment: str, *, msc: int | None = None) -> TradeDeal:  # fmt: skip
    return TradeDeal(ticket, order, time, time * 1000 if msc is None else msc, kind, entry, MAGIC if symbol else 0,
                     position, c.REASON_EXPERT if symbol else c.REASON_CLIENT, lots, price, 0.0, 0.0, gain, 0.0,
                     symbol, comment, "")  # fmt: skip


def _filling(spec: SymbolSpec) -> int:
    return c.ORDER_FILLING_FOK if spec.filling_mode & c.SYMBOL_FILLING_FOK else c.ORDER_FILLING_IOC
