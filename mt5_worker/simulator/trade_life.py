"""The simulated trade server between requests: what the market's own ticks do to an account.

:func:`advance` plays an account forward over a span of the market's ticks (the same deterministic ticks every
process sees) and returns what changed, as a real server does it (docs/sdk-trading.md, "The trade server between
requests", with sources):

- **pending orders** trigger on the first tick that reaches them: a buy limit when the Ask falls to its price, a sell
  limit when the Bid rises to it, a buy stop when the Ask rises to it, a sell stop when the Bid falls to it; each
  fills whole at that tick's price (a limit at its price or better) into a position of its own (its ticket, stops
  and comment), unless the free margin then is short (the order is rejected). A stop-limit becomes a limit order at
  its ``stoplimit`` price;
- **expiry**: ``ORDER_TIME_SPECIFIED`` at ``expiration``, ``ORDER_TIME_SPECIFIED_DAY`` at the end of its day,
  ``ORDER_TIME_DAY`` at the end of the day it was placed (server midnights), unless it triggered before;
- **SL and TP** close a position on the first tick that reaches them: the Bid for a buy (at or below its SL, at or
  above its TP), the Ask for a sell, at that tick's price;
- **stop-out**: when the margin level (equity / margin) falls to ``MARGIN_SO_SO`` percent at a tick, the position
  with the largest loss is closed at that tick, then the next, until the level is above it;
- closing deals carry the position's swap and the symbol's commission (:mod:`~mt5_worker.simulator.ledger`).

Every event happens at a tick, so the result is a pure function of the account and the span: whichever process
plays it, and however the span is cut, the same fills at the same prices. :class:`~mt5_worker.simulator.trade_store
.TradeStore` plays each account forward once, inside the write transaction that moves its ``processed_to``: two
processes looking at the same moment cannot both fill an order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mt5_worker.simulator.ledger import DAY_MS, commission_at, margin_at, profit_at, swap_at
from mt5_worker.simulator.market import Market, SymbolSpec
from mt5_worker.simulator.specs import AccountSpec
from mt5_worker.simulator.trade_store import FIRST_TICKET, AccountState, Changes
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import TradeDeal, TradeOrder, TradePosition

MARGIN_SO_CALL = 50.0  # account_info().margin_so_call, percent (ACCOUNT_STOPOUT_MODE_PERCENT)
MARGIN_SO_SO = 30.0  # account_info().margin_so_so: the stop-out level
_LIMITS = (c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_SELL_LIMIT)
_EXPIRING = (c.ORDER_TIME_DAY, c.ORDER_TIME_SPECIFIED, c.ORDER_TIME_SPECIFIED_DAY)


@dataclass
class Prices:
    """One symbol's ticks over a span (times, Bid, Ask), and its last prices before it."""

    times: np.ndarray[Any, Any]
    bid: np.ndarray[Any, Any]
    ask: np.ndarray[Any, Any]
    before: tuple[float, float]

    def at(self, t: int) -> tuple[float, float]:
        """Bid and Ask at ``t`` (the last tick at or before it)."""
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        return (float(self.bid[i]), float(self.ask[i])) if i >= 0 else self.before

    def after(self, t: int) -> int:
        return int(np.searchsorted(self.times, t, side="right"))

    def series(self, times: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Bid and Ask at each of ``times`` (the last tick at or before each; before this span's first tick, its
        last prices before it)."""
        if not len(self.times):
            return np.full(len(times), self.before[0]), np.full(len(times), self.before[1])
        i = np.searchsorted(self.times, times, side="right") - 1
        j = np.maximum(i, 0)
        return np.where(i >= 0, self.bid[j], self.before[0]), np.where(i >= 0, self.ask[j], self.before[1])


@dataclass
class Book:
    """The account as it is played forward: positions (every one, generated ones too), the server's pending orders,
    the balance, and what happened."""

    positions: dict[int, TradePosition]
    orders: dict[int, TradeOrder]
    balance: float
    history_orders: list[TradeOrder] = field(default_factory=list)
    deals: list[TradeDeal] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    time: int
    rank: int  # ties at one tick: expiries, then orders, then stops (a stop-out is checked after all of them)
    ticket: int
    kind: str  # "expire", "trigger", "sl", "tp", "so"
    price: float = 0.0


class Life:
    """Plays one account forward (see the module doc). ``ticket()`` hands out the server's tickets."""

    def __init__(self, market: Market, account: AccountSpec, ticket: Callable[[], int], until_ms: int) -> None:
        self.market, self.account, self.ticket, self.until = market, account, ticket, until_ms
        self._specs: dict[str, SymbolSpec] = {}
        self._rates: dict[str, tuple[float, float]] = {}  # symbol -> (profit rate, margin rate), at the span's end

    def advance(self, state: AccountState, generated: Sequence[TradePosition], balance: float, start_ms: int
                ) -> Changes | None:  # fmt: skip
        """What happened to the account from ``start_ms`` (exclusive) to ``until`` (inclusive); ``None``: nothing."""
        own = {p.ticket: p for p in state.positions}
        book = Book({p.ticket: p for p in (*generated, *state.positions)}, {o.ticket: o for o in state.orders},
                    balance)  # fmt: skip
        live = {p.ticket for p in state.positions if p.sl or p.tp}
        if not book.orders and not live and not book.positions:
            return None
        cursor = start_ms
        while cursor < self.until:
            end = min(self.until, ((cursor + 1) // DAY_MS + 1) * DAY_MS - 1)  # a day at a time: swaps change at 0:00
            prices = self._prices(book, cursor, end)
            while (events := self._next(book, prices, cursor, end, own)) is not None:
                for event in events:
                    self._apply(book, event, prices, own)
                cursor = events[0].time
                self._stop_out(book, prices, cursor)
            cursor = end
        return _changes(state, book, own)

    # --- what happens next ---

    def _next(self, book: Book, prices: dict[str, Prices], cursor: int, end: int,
              own: dict[int, TradePosition]) -> list[Event] | None:  # fmt: skip
        found: list[Event] = []
        for o in sorted(book.orders.values(), key=lambda o: o.ticket):
            found += self._order_event(o, prices.get(o.symbol), cursor, end)
        for p in sorted(book.positions.values(), key=lambda p: p.ticket):
            if p.ticket in own and (p.sl or p.tp) and p.symbol in prices:
                found += _stop_event(p, prices[p.symbol], cursor)
        so = self._stop_out_time(book, prices, cursor)
        if so is not None:
            found.append(Event(so, 3, 0, "so"))
        if not found:
            return None
        first = min(e.time for e in found)
        return sorted((e for e in found if e.time == first), key=lambda e: (e.rank, e.ticket))

    def _order_event(self, o: TradeOrder, prices: Prices | None, cursor: int, end: int) -> list[Event]:
        expiry = _expiry_ms(o)
        trigger = None
        if prices is not None:
            i = prices.after(max(cursor, o.time_setup_msc))
            buy = o.type % 2 == 0
            side = prices.ask[i:] if buy else prices.bid[i:]
            if o.type in _LIMITS:
                hit = side <= o.price_open if buy else side >= o.price_open
            else:  # stops and stop-limits trigger the same way
                hit = side >= o.price_open if buy else side <= o.price_open
            where = np.flatnonzero(hit)
            if len(where):
                j = i + int(where[0])
                trigger = Event(int(prices.times[j]), 1, o.ticket, "trigger", float(side[where[0]]))
        if expiry is not None and cursor < expiry <= end and (trigger is None or expiry <= trigger.time):
            return [Event(expiry, 0, o.ticket, "expire")]
        return [trigger] if trigger is not None else []

    def _stop_out_time(self, book: Book, prices: dict[str, Prices], cursor: int) -> int | None:
        """The first tick after ``cursor`` at which the margin level is at or below the stop-out level."""
        margin = self._margin(book)
        if margin <= 0:
            return None
        # Per symbol, the positions' floating profit is linear in its Bid and Ask:
        # contract x rate x (buy lots x Bid - sum of buy lots x open - sell lots x Ask + sum of sell lots x open).
        exposure: dict[str, list[float]] = {}
        for p in book.positions.values():
            if p.symbol in prices:
                e = exposure.setdefault(p.symbol, [0.0, 0.0, 0.0, 0.0])
                buy = p.type == c.POSITION_TYPE_BUY
                e[0 if buy else 2] += p.volume
                e[1 if buy else 3] += p.volume * p.price_open
        spans = {s: prices[s].times[prices[s].after(cursor) :] for s in exposure}
        if not any(len(t) for t in spans.values()):
            return None
        base = book.balance + self._swaps(book, cursor + 1)
        worst = base
        for s, (buy_lots, buy_cost, sell_lots, sell_cost) in exposure.items():
            i = prices[s].after(cursor)
            bid, ask = prices[s].bid[i:], prices[s].ask[i:]
            low = min(float(bid.min()) if len(bid) else prices[s].at(cursor)[0], prices[s].at(cursor)[0])
            high = max(float(ask.max()) if len(ask) else prices[s].at(cursor)[1], prices[s].at(cursor)[1])
            worst += self._scale(s) * (buy_lots * low - buy_cost - sell_lots * high + sell_cost)
        if worst / margin * 100 > MARGIN_SO_SO:  # not even the span's worst prices together reach it
            return None
        times = np.unique(np.concatenate(list(spans.values())))
        equity = np.full(len(times), base, dtype=float)
        for s, (buy_lots, buy_cost, sell_lots, sell_cost) in exposure.items():
            bid, ask = prices[s].series(times)
            equity += self._scale(s) * (buy_lots * bid - buy_cost - sell_lots * ask + sell_cost)
        below = np.flatnonzero(equity / margin * 100 <= MARGIN_SO_SO)
        return int(times[below[0]]) if len(below) else None

    def _scale(self, symbol: str) -> float:
        """Account money per unit of price per lot."""
        return self._spec(symbol).contract_size * self._rate(symbol)[0]

    # --- what it does ---

    def _apply(self, book: Book, e: Event, prices: dict[str, Prices], own: dict[int, TradePosition]) -> None:
        if e.kind == "expire" and e.ticket in book.orders:
            o = book.orders.pop(e.ticket)
            book.history_orders.append(_done(o, c.ORDER_STATE_EXPIRED, e.time, o.price_current))
        elif e.kind == "trigger" and e.ticket in book.orders:
            self._trigger(book, book.orders.pop(e.ticket), e, prices, own)
        elif e.kind in ("sl", "tp") and e.ticket in book.positions:
            p = book.positions[e.ticket]
            level = p.sl if e.kind == "sl" else p.tp
            reason = c.REASON_SL if e.kind == "sl" else c.REASON_TP
            self._close(book, p, e.time, e.price, reason, f"[{e.kind} {level:.{self._spec(p.symbol).digits}f}]")

    def _trigger(self, book: Book, o: TradeOrder, e: Event, prices: dict[str, Prices],
                 own: dict[int, TradePosition]) -> None:  # fmt: skip
        if o.type >= c.ORDER_TYPE_BUY_STOP_LIMIT:  # becomes the limit order at its stop-limit price
            book.orders[o.ticket] = o._replace(type=o.type - 4, price_open=o.price_stoplimit)
            return
        spec, (_, margin_rate) = self._spec(o.symbol), self._rate(o.symbol)
        need = margin_at(spec, o.volume_current, e.price, self.account.leverage, margin_rate)
        if need > self._equity(book, prices, e.time) - self._margin(book):
            book.history_orders.append(_done(o, c.ORDER_STATE_REJECTED, e.time, e.price))
            return
        kind = o.type % 2
        book.history_orders.append(_done(o, c.ORDER_STATE_FILLED, e.time, e.price)._replace(position_id=o.ticket))
        position = TradePosition(o.ticket, e.time // 1000, e.time, e.time // 1000, e.time, kind, o.magic, o.ticket,
                                 o.reason, o.volume_current, e.price, o.sl, o.tp, e.price, 0.0, 0.0, o.symbol,
                                 o.comment, "")  # fmt: skip
        book.positions[o.ticket] = own[o.ticket] = position
        fee = commission_at(spec, o.volume_current, self._rate(o.symbol)[0])
        book.deals.append(TradeDeal(self.ticket(), o.ticket, e.time // 1000, e.time, kind, c.DEAL_ENTRY_IN, o.magic,
                                    o.ticket, o.reason, o.volume_current, e.price, fee, 0.0, 0.0, 0.0, o.symbol,
                                    o.comment, ""))  # fmt: skip
        book.balance += fee

    def _stop_out(self, book: Book, prices: dict[str, Prices], t: int) -> None:
        """Close the largest loser at ``t`` while the margin level there is at or below the stop-out level."""
        while book.positions and (margin := self._margin(book)) > 0:
            equity = self._equity(book, prices, t)
            level = equity / margin * 100
            if level > MARGIN_SO_SO:
                return
            marked = {p.ticket: self._profit(p, prices, t) for p in book.positions.values() if p.symbol in prices}
            if not marked:
                return
            worst = book.positions[min(marked, key=lambda k: (marked[k][0], k))]
            text = f"[so {level:.2f}%/{equity:.2f}/{margin:.2f}]"
            self._close(book, worst, t, marked[worst.ticket][1], c.REASON_SO, text)

    def _close(self, book: Book, p: TradePosition, t: int, price: float, reason: int, comment: str) -> None:
        spec, (rate, _) = self._spec(p.symbol), self._rate(p.symbol)
        gain = profit_at(spec, p.type, p.volume, p.price_open, price, rate)
        swap = _swap(spec, p, t, rate)
        fee = commission_at(spec, p.volume, rate)
        order, kind = self.ticket(), 1 - p.type
        book.history_orders.append(TradeOrder(order, t // 1000, t, t // 1000, t, 0, kind, c.ORDER_TIME_GTC,
                                              c.ORDER_FILLING_FOK, c.ORDER_STATE_FILLED, p.magic, p.ticket, 0, reason,
                                              p.volume, 0.0, price, 0.0, 0.0, price, 0.0, p.symbol, comment,
                                              ""))  # fmt: skip
        book.deals.append(TradeDeal(self.ticket(), order, t // 1000, t, kind, c.DEAL_ENTRY_OUT, p.magic, p.ticket,
                                    reason, p.volume, price, fee, swap, gain, 0.0, p.symbol, comment, ""))  # fmt: skip
        book.balance += gain + swap + fee
        del book.positions[p.ticket]

    # --- money at a moment ---

    def _profit(self, p: TradePosition, prices: dict[str, Prices], t: int) -> tuple[float, float]:
        """A position's floating profit at ``t`` (its swap included) and the price that closes it."""
        spec, (rate, _) = self._spec(p.symbol), self._rate(p.symbol)
        bid, ask = prices[p.symbol].at(t)
        close = bid if p.type == c.POSITION_TYPE_BUY else ask
        return profit_at(spec, p.type, p.volume, p.price_open, close, rate) + _swap(spec, p, t, rate), close

    def _equity(self, book: Book, prices: dict[str, Prices], t: int) -> float:
        return book.balance + sum(self._profit(p, prices, t)[0] for p in book.positions.values() if p.symbol in prices)

    def _margin(self, book: Book) -> float:
        total = 0.0
        for p in book.positions.values():
            if self.market.get(p.symbol) is not None:
                total += margin_at(self._spec(p.symbol), p.volume, p.price_open, self.account.leverage,
                                   self._rate(p.symbol)[1])  # fmt: skip
        return total

    def _swaps(self, book: Book, t: int) -> float:
        return sum(_swap(self._spec(p.symbol), p, t, self._rate(p.symbol)[0]) for p in book.positions.values()
                   if self.market.get(p.symbol) is not None)  # fmt: skip

    def _prices(self, book: Book, lo: int, hi: int) -> dict[str, Prices]:
        symbols = {o.symbol for o in book.orders.values()} | {p.symbol for p in book.positions.values()}
        out = {}
        for name in sorted(symbols):
            market = self.market.get(name)
            if market is None:
                continue
            rows = market.ticks_between(lo + 1, hi, self.until)
            last = self.market.tick(name, lo)
            before = (last.bid, last.ask) if last is not None else (float("nan"), float("nan"))
            out[name] = Prices(rows["time_msc"], rows["bid"], rows["ask"], before)
        return out

    def _spec(self, symbol: str) -> SymbolSpec:
        if symbol not in self._specs:
            found = self.market.get(symbol)
            assert found is not None
            self._specs[symbol] = found.spec
        return self._specs[symbol]

    def _rate(self, symbol: str) -> tuple[float, float]:
        if symbol not in self._rates:
            spec, currency = self._spec(symbol), self.account.currency
            self._rates[symbol] = (self.market.rate(spec.currency_profit, currency, self.until),
                                   self.market.rate(spec.currency_margin, currency, self.until))  # fmt: skip
        return self._rates[symbol]


def position_swap(spec: SymbolSpec, p: TradePosition, now_ms: int, rate: float) -> float:
    """A position's swap now: the trade server's own positions only (the generated ones carry none)."""
    return _swap(spec, p, now_ms, rate)


def _swap(spec: SymbolSpec, p: TradePosition, t: int, rate: float) -> float:
    return swap_at(spec, p.type, p.volume, p.time_msc, t, rate) if p.ticket >= FIRST_TICKET else 0.0


def _stop_event(p: TradePosition, prices: Prices, cursor: int) -> list[Event]:
    i = prices.after(cursor)
    buy = p.type == c.POSITION_TYPE_BUY
    side = prices.bid[i:] if buy else prices.ask[i:]
    hits = []
    if p.sl:
        hits.append(("sl", side <= p.sl if buy else side >= p.sl))
    if p.tp:
        hits.append(("tp", side >= p.tp if buy else side <= p.tp))
    found = []
    for kind, hit in hits:
        where = np.flatnonzero(hit)
        if len(where):
            found.append(Event(int(prices.times[i + where[0]]), 2, p.ticket, kind, float(side[where[0]])))
    return [min(found, key=lambda e: (e.time, e.kind != "sl"))] if found else []


def _expiry_ms(o: TradeOrder) -> int | None:
    """When a pending order expires (server time, ms), ``None`` for good-till-cancelled."""
    if o.type_time not in _EXPIRING:
        return None
    if o.type_time == c.ORDER_TIME_SPECIFIED:
        return o.time_expiration * 1000
    day = o.time_expiration * 1000 if o.type_time == c.ORDER_TIME_SPECIFIED_DAY else o.time_setup_msc
    return (day // DAY_MS + 1) * DAY_MS  # 23:59:59 of that day is its last second


def _done(o: TradeOrder, state: int, t: int, price: float) -> TradeOrder:
    return o._replace(state=state, time_done=t // 1000, time_done_msc=t, price_current=price,
                      volume_current=0.0 if state == c.ORDER_STATE_FILLED else o.volume_current)  # fmt: skip


def _changes(state: AccountState, book: Book, own: dict[int, TradePosition]) -> Changes | None:
    """The net difference between the account as loaded and as played forward (``None``: none)."""
    before = {p.ticket: p for p in state.positions}
    changes = Changes(None)
    changes.closed_positions = [t for t in before if t not in book.positions]
    changes.positions = [p for t, p in book.positions.items() if t in own and before.get(t) != p]
    old_orders = {o.ticket: o for o in state.orders}
    changes.removed_orders = [t for t in old_orders if t not in book.orders]
    changes.orders = [o for t, o in book.orders.items() if old_orders.get(t) != o]
    changes.history_orders, changes.deals = book.history_orders, book.deals
    # Generated positions closed (by a stop-out): the trade server takes them over, so they stay closed.
    changes.taken = sorted({d.position_id for d in book.deals if d.entry == c.DEAL_ENTRY_OUT
                            and d.position_id < FIRST_TICKET and d.position_id not in before})  # fmt: skip
    if not (changes.closed_positions or changes.positions or changes.removed_orders or changes.orders
            or changes.deals or changes.history_orders):  # fmt: skip
        return None
    return changes
