"""The simulated trade server's rules: whether a trade request is accepted, and at what price.

Pure functions of a :class:`Desk` (the account, its positions and orders, the market, now): ``order_check`` and
``order_send`` both judge a request with :func:`judge`, so they always agree (``order_check``'s 0 is
``order_send``'s 10009/10008 for the same request at the same moment). What an accepted request then changes is
:mod:`~mt5_worker.simulator.trade_execution`. The rules, their order and their sources: docs/sdk-trading.md.

Money follows :mod:`~mt5_worker.simulator.ledger`: margin of a position at its open price (the formula of
``order_calc_margin``), floating profit at the current Bid (a buy) or Ask (a sell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mt5_worker.simulator.ledger import commission_at, margin, margin_at, profit
from mt5_worker.simulator.market import Market, SymbolSpec
from mt5_worker.simulator.specs import AccountSpec
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import Tick, TradeOrder, TradePosition, TradeRequest

# What the terminal writes in ``comment`` for each retcode. Seen in recorded results: "Request executed",
# "Requote", "Invalid request", "AutoTrading disabled by client", "Unsupported filling mode", "Invalid stops",
# "No money"; the others follow the same style (docs/sdk-trading.md marks them unverified).
COMMENTS = {
    c.TRADE_RETCODE_CHECK_OK: "Done",
    c.TRADE_RETCODE_REQUOTE: "Requote",
    c.TRADE_RETCODE_REJECT: "Request rejected",
    c.TRADE_RETCODE_PLACED: "Request placed",
    c.TRADE_RETCODE_DONE: "Request executed",
    c.TRADE_RETCODE_INVALID: "Invalid request",
    c.TRADE_RETCODE_INVALID_VOLUME: "Invalid volume",
    c.TRADE_RETCODE_INVALID_PRICE: "Invalid price",
    c.TRADE_RETCODE_INVALID_STOPS: "Invalid stops",
    c.TRADE_RETCODE_TRADE_DISABLED: "Trade disabled",
    c.TRADE_RETCODE_MARKET_CLOSED: "Market closed",
    c.TRADE_RETCODE_NO_MONEY: "No money",
    c.TRADE_RETCODE_INVALID_EXPIRATION: "Invalid expiration",
    c.TRADE_RETCODE_NO_CHANGES: "No changes",
    c.TRADE_RETCODE_SERVER_DISABLES_AT: "AutoTrading disabled by server",
    c.TRADE_RETCODE_CLIENT_DISABLES_AT: "AutoTrading disabled by client",
    c.TRADE_RETCODE_INVALID_FILL: "Unsupported filling mode",
    c.TRADE_RETCODE_INVALID_CLOSE_VOLUME: "Invalid close volume",
    c.TRADE_RETCODE_LONG_ONLY: "Long positions only allowed",
    c.TRADE_RETCODE_SHORT_ONLY: "Short positions only allowed",
    c.TRADE_RETCODE_CLOSE_ONLY: "Position closing only allowed",
}
ACCEPTED = frozenset({c.TRADE_RETCODE_DONE, c.TRADE_RETCODE_PLACED})
_PENDING_TYPES = range(c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_SELL_STOP_LIMIT + 1)
_INSTANT_MODES = (c.SYMBOL_TRADE_EXECUTION_REQUEST, c.SYMBOL_TRADE_EXECUTION_INSTANT)


@dataclass(frozen=True)
class Desk:
    """What a request is judged against: one account on its trade server, now."""

    market: Market
    account: AccountSpec
    now_ms: int
    balance: float
    positions: tuple[TradePosition, ...]  # open, every source merged; price_current/profit as of now
    orders: tuple[TradeOrder, ...]  # pending

    def spec(self, symbol: str) -> SymbolSpec | None:
        found = self.market.get(symbol)
        return None if found is None else found.spec

    def is_open(self, symbol: str) -> bool:
        found = self.market.get(symbol)
        return found is not None and bool(found.calendar.is_open(self.now_ms // 3_600_000))

    def tick(self, symbol: str) -> Tick | None:
        return self.market.tick(symbol, self.now_ms)

    def margin_of(self, spec: SymbolSpec, volume: float, price: float) -> float:
        return margin(spec, self.market, volume, price, self.account.leverage, self.account.currency, self.now_ms)

    def profit_of(self, spec: SymbolSpec, kind: int, volume: float, price_open: float, price_close: float) -> float:
        return profit(spec, self.market, kind, volume, price_open, price_close, self.account.currency, self.now_ms)

    def commission_of(self, spec: SymbolSpec, volume: float) -> float:
        """One deal's commission (negative), in the account's currency."""
        return commission_at(spec, volume, self.market.rate(spec.currency_profit, self.account.currency, self.now_ms))


@dataclass(frozen=True)
class Figures:
    """The account's money now: what ``account_info`` and ``order_check`` report."""

    balance: float
    profit: float  # floating, of the open positions, their swaps included
    equity: float
    margin: float
    margin_free: float
    margin_level: float  # equity / margin in percent; 0 without margin


def figures(desk: Desk, extra_margin: float = 0.0) -> Figures:
    """The account's figures, with ``extra_margin`` (a request's) counted as used."""
    used = extra_margin
    rates: dict[str, tuple[SymbolSpec, float]] = {}  # per symbol: an account may hold hundreds of positions
    account, market = desk.account, desk.market
    for p in desk.positions:
        known = rates.get(p.symbol)
        if known is None:
            spec = desk.spec(p.symbol)
            if spec is None:
                continue
            known = rates[p.symbol] = (spec, market.rate(spec.currency_margin, account.currency, desk.now_ms))
        used += margin_at(known[0], p.volume, p.price_open, account.leverage, known[1])
    floating = round(sum(p.profit + p.swap for p in desk.positions), 2)  # the swap so far is money too
    equity = round(desk.balance + floating + _equity_offset(desk.account), 2)
    used = round(used, 2)
    level = round(equity / used * 100, 2) if used else 0.0
    return Figures(round(desk.balance, 2), floating, equity, used, round(equity - used, 2), level)


@dataclass(frozen=True)
class Verdict:
    """The trade server's answer to a request: a retcode and, when accepted, what it works with."""

    retcode: int
    price: float = 0.0  # the deal's price (DEAL) or the order's (PENDING, MODIFY)
    margin: float = 0.0  # the margin the request adds
    tick: Tick | None = None  # the prices it was judged at
    position: TradePosition | None = None  # the position it closes or changes (DEAL with position, SLTP, CLOSE_BY)
    opposite: TradePosition | None = None  # CLOSE_BY's position_by
    order: TradeOrder | None = None  # the pending order it changes (MODIFY, REMOVE)
    local: bool = False  # refused by the terminal itself, before the server (no request id, no prices)

    @property
    def accepted(self) -> bool:
        return self.retcode in ACCEPTED


def judge(r: TradeRequest, desk: Desk) -> Verdict:
    """The retcode the simulated trade server answers ``r`` with (its checks in docs/sdk-trading.md's order)."""
    if not desk.account.trade_allowed:
        return Verdict(c.TRADE_RETCODE_TRADE_DISABLED)
    if not desk.account.trade_expert:
        return Verdict(c.TRADE_RETCODE_SERVER_DISABLES_AT)
    if r.action == c.TRADE_ACTION_DEAL:
        return _deal(r, desk)
    if r.action == c.TRADE_ACTION_PENDING:
        return _pending(r, desk)
    if r.action == c.TRADE_ACTION_SLTP:
        return _sltp(r, desk)
    if r.action in (c.TRADE_ACTION_MODIFY, c.TRADE_ACTION_REMOVE):
        return _order_change(r, desk)
    if r.action == c.TRADE_ACTION_CLOSE_BY:
        return _close_by(r, desk)
    return Verdict(c.TRADE_RETCODE_INVALID)


def _deal(r: TradeRequest, desk: Desk) -> Verdict:
    position = _position(desk, r.position) if r.position else None
    symbol = r.symbol or (position.symbol if position is not None else "")
    spec = desk.spec(symbol)
    if spec is None or r.type not in (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL):
        return Verdict(c.TRADE_RETCODE_INVALID)
    if r.position and (position is None or position.symbol != symbol or position.type == r.type):
        return Verdict(c.TRADE_RETCODE_INVALID)  # closing needs the position, on its symbol, the other way
    refused = _trade_mode(spec, r.type, opening=position is None) or _volume(spec, r.volume)
    if refused:
        return Verdict(refused)
    if position is not None and r.volume > position.volume + 1e-9:
        return Verdict(c.TRADE_RETCODE_INVALID_CLOSE_VOLUME)
    if not _filling_allowed(spec, r.type_filling):
        return Verdict(c.TRADE_RETCODE_INVALID_FILL)
    tick = desk.tick(symbol)
    if tick is None or not desk.is_open(symbol):
        return Verdict(c.TRADE_RETCODE_MARKET_CLOSED)
    buy = r.type == c.ORDER_TYPE_BUY
    price = tick.ask if buy else tick.bid
    if spec.exemode in _INSTANT_MODES:  # the price is required, and honoured within `deviation` points
        if not (r.price > 0 and math.isfinite(r.price)):
            return Verdict(c.TRADE_RETCODE_INVALID_PRICE, local=True)
        if abs(r.price - price) > r.deviation * spec.point + spec.point / 2:
            return Verdict(c.TRADE_RETCODE_REQUOTE, tick=tick)
    if position is None:
        if _stops_invalid(spec, buy, r.sl, r.tp, tick.bid if buy else tick.ask):
            return Verdict(c.TRADE_RETCODE_INVALID_STOPS, tick=tick)
        extra = desk.margin_of(spec, r.volume, price)
        if extra > figures(desk).margin_free:
            return Verdict(c.TRADE_RETCODE_NO_MONEY, tick=tick)
        return Verdict(c.TRADE_RETCODE_DONE, price, extra, tick)
    return Verdict(c.TRADE_RETCODE_DONE, price, 0.0, tick, position=position)


def _pending(r: TradeRequest, desk: Desk) -> Verdict:
    spec = desk.spec(r.symbol)
    if spec is None or r.type not in _PENDING_TYPES or r.position or r.position_by:
        return Verdict(c.TRADE_RETCODE_INVALID)
    refused = _trade_mode(spec, r.type % 2, opening=True) or _volume(spec, r.volume)
    if refused:
        return Verdict(refused)
    placed = _placement(r, r.type, spec, desk)
    if not placed.accepted:
        return placed
    extra = desk.margin_of(spec, r.volume, r.price)
    if extra > figures(desk).margin_free:
        return Verdict(c.TRADE_RETCODE_NO_MONEY, tick=placed.tick)
    return Verdict(c.TRADE_RETCODE_PLACED, r.price, extra, placed.tick)


def _order_change(r: TradeRequest, desk: Desk) -> Verdict:
    order = next((o for o in desk.orders if o.ticket == r.order), None) if r.order else None
    spec = None if order is None else desk.spec(order.symbol)
    if order is None or spec is None or (r.symbol and r.symbol != order.symbol):
        return Verdict(c.TRADE_RETCODE_INVALID)
    if not desk.is_open(order.symbol):
        return Verdict(c.TRADE_RETCODE_MARKET_CLOSED)
    if r.action == c.TRADE_ACTION_REMOVE:
        return Verdict(c.TRADE_RETCODE_DONE, order.price_open, order=order)
    placed = _placement(r, order.type, spec, desk)
    if not placed.accepted:
        return placed
    wanted = (r.price, r.sl, r.tp, r.stoplimit, r.type_time, r.expiration)
    same = wanted == (order.price_open, order.sl, order.tp, order.price_stoplimit, order.type_time,
                      order.time_expiration)  # fmt: skip
    return Verdict(c.TRADE_RETCODE_NO_CHANGES if same else c.TRADE_RETCODE_DONE, r.price, tick=placed.tick,
                   order=order)  # fmt: skip


def _sltp(r: TradeRequest, desk: Desk) -> Verdict:
    position = _position(desk, r.position) if r.position else None
    spec = None if position is None else desk.spec(position.symbol)
    if position is None or spec is None or (r.symbol and r.symbol != position.symbol):
        return Verdict(c.TRADE_RETCODE_INVALID)
    tick = desk.tick(position.symbol)
    if tick is None or not desk.is_open(position.symbol):
        return Verdict(c.TRADE_RETCODE_MARKET_CLOSED)
    buy = position.type == c.POSITION_TYPE_BUY
    if _stops_invalid(spec, buy, r.sl, r.tp, tick.bid if buy else tick.ask):
        return Verdict(c.TRADE_RETCODE_INVALID_STOPS, tick=tick)
    if (r.sl, r.tp) == (position.sl, position.tp):
        return Verdict(c.TRADE_RETCODE_NO_CHANGES, tick=tick)
    return Verdict(c.TRADE_RETCODE_DONE, tick=tick, position=position)


def _close_by(r: TradeRequest, desk: Desk) -> Verdict:
    position = _position(desk, r.position) if r.position else None
    opposite = _position(desk, r.position_by) if r.position_by else None
    if position is None or opposite is None or position.symbol != opposite.symbol or position.type == opposite.type:
        return Verdict(c.TRADE_RETCODE_INVALID)
    tick = desk.tick(position.symbol)
    if tick is None or not desk.is_open(position.symbol):
        return Verdict(c.TRADE_RETCODE_MARKET_CLOSED)
    return Verdict(c.TRADE_RETCODE_DONE, opposite.price_open, tick=tick, position=position, opposite=opposite)


def _placement(r: TradeRequest, kind: int, spec: SymbolSpec, desk: Desk) -> Verdict:
    """A pending order's session, expiration, price and stops (PENDING and MODIFY)."""
    tick = desk.tick(spec.name)
    if tick is None or not desk.is_open(spec.name):
        return Verdict(c.TRADE_RETCODE_MARKET_CLOSED)
    if r.type_time not in range(c.ORDER_TIME_GTC, c.ORDER_TIME_SPECIFIED_DAY + 1) or (
        r.type_time in (c.ORDER_TIME_SPECIFIED, c.ORDER_TIME_SPECIFIED_DAY) and r.expiration <= desk.now_ms // 1000
    ):
        return Verdict(c.TRADE_RETCODE_INVALID_EXPIRATION, tick=tick)
    if not _pending_price_valid(spec, kind, r.price, r.stoplimit, tick):
        return Verdict(c.TRADE_RETCODE_INVALID_PRICE, tick=tick)
    entry = r.stoplimit if kind >= c.ORDER_TYPE_BUY_STOP_LIMIT else r.price
    if _stops_invalid(spec, kind % 2 == 0, r.sl, r.tp, entry):
        return Verdict(c.TRADE_RETCODE_INVALID_STOPS, tick=tick)
    return Verdict(c.TRADE_RETCODE_PLACED, r.price, tick=tick)


def _position(desk: Desk, ticket: int) -> TradePosition | None:
    return next((p for p in desk.positions if p.ticket == ticket), None)


def _trade_mode(spec: SymbolSpec, kind: int, *, opening: bool) -> int:
    """The symbol's trade mode against a request that opens (or adds to) a position of direction ``kind``."""
    mode = spec.trade_mode
    if mode == c.SYMBOL_TRADE_MODE_DISABLED:
        return c.TRADE_RETCODE_TRADE_DISABLED
    if opening and mode == c.SYMBOL_TRADE_MODE_CLOSEONLY:
        return c.TRADE_RETCODE_CLOSE_ONLY
    if opening and mode == c.SYMBOL_TRADE_MODE_LONGONLY and kind == c.ORDER_TYPE_SELL:
        return c.TRADE_RETCODE_LONG_ONLY
    if opening and mode == c.SYMBOL_TRADE_MODE_SHORTONLY and kind == c.ORDER_TYPE_BUY:
        return c.TRADE_RETCODE_SHORT_ONLY
    return 0


def _volume(spec: SymbolSpec, volume: float) -> int:
    """10014 unless the volume is within the symbol's min and max and on its step."""
    steps = (volume - spec.volume_min) / spec.volume_step
    ok = math.isfinite(volume) and spec.volume_min <= volume <= spec.volume_max and abs(steps - round(steps)) < 1e-7
    return 0 if ok else c.TRADE_RETCODE_INVALID_VOLUME


def _filling_allowed(spec: SymbolSpec, filling: int) -> bool:
    """FOK and IOC by the symbol's ``filling_mode`` bits; Return in every execution mode but Market."""
    if filling == c.ORDER_FILLING_FOK:
        return bool(spec.filling_mode & c.SYMBOL_FILLING_FOK)
    if filling == c.ORDER_FILLING_IOC:
        return bool(spec.filling_mode & c.SYMBOL_FILLING_IOC)
    if filling == c.ORDER_FILLING_RETURN:
        return spec.exemode != c.SYMBOL_TRADE_EXECUTION_MARKET
    return False


def _stops_invalid(spec: SymbolSpec, buy: bool, sl: float, tp: float, reference: float) -> bool:
    """SL/TP (0: none) must lie on their side of ``reference`` (Bid for a buy, Ask for a sell, the order's price
    for a pending one), at least ``trade_stops_level`` points away ("Requirements and Limitations in Making
    Trades": Bid-SL >= StopLevel, TP-Bid >= StopLevel for a buy; SL-Ask, Ask-TP for a sell)."""
    if not (math.isfinite(sl) and math.isfinite(tp)) or sl < 0 or tp < 0:
        return True
    if buy:
        return bool((sl and not _apart(spec, reference, sl)) or (tp and not _apart(spec, tp, reference)))
    return bool((sl and not _apart(spec, sl, reference)) or (tp and not _apart(spec, reference, tp)))


def _pending_price_valid(spec: SymbolSpec, kind: int, price: float, stoplimit: float, tick: Tick) -> bool:
    """Limits below (buy) / above (sell) the market, stops above / below, ``trade_stops_level`` points away; a
    stop-limit's limit price on the far side of its stop price."""
    if not (math.isfinite(price) and price > 0 and math.isfinite(stoplimit)):
        return False
    buy = kind % 2 == 0
    limit = kind in (c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_SELL_LIMIT)
    market = tick.ask if buy else tick.bid
    under = _apart(spec, market, price)  # the order's price below the market
    over = _apart(spec, price, market)
    ok = (under if limit else over) if buy else (over if limit else under)
    if kind >= c.ORDER_TYPE_BUY_STOP_LIMIT:
        ok = ok and stoplimit > 0 and (stoplimit < price if buy else stoplimit > price)
    return ok


def _apart(spec: SymbolSpec, high: float, low: float) -> bool:
    """``high - low >= trade_stops_level`` points (to a tenth of a point): the StopLevel rule's every line."""
    return high - low >= max(spec.stops_level, 0) * spec.point - spec.point / 10


def _equity_offset(account: AccountSpec) -> float:
    """An account file may state equity apart from balance (credit, say): that difference stays."""
    return 0.0 if account.equity is None else account.equity - account.balance
