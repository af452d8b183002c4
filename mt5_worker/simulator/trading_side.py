"""The simulated terminal's trading: ``order_send`` against a simulated trade server whose state outlives the terminal.

A mixin of :class:`~mt5_worker.simulator.terminal.SimulatedTerminal`. An account's trading is its generated ledger
(:mod:`~mt5_worker.simulator.ledger`, fixed history) merged with what ``order_send`` changed, which the trade server
keeps in a :class:`~mt5_worker.simulator.trade_store.TradeStore` shared by every simulated terminal using the same
file. The rules are :mod:`~mt5_worker.simulator.trade_rules` (shared with ``order_check``), the changes
:mod:`~mt5_worker.simulator.trade_execution`, and what the market does between requests (pending orders filling,
SL/TP, stop-out, expiry) :mod:`~mt5_worker.simulator.trade_life`: every read and every ``order_send`` first plays
the account forward to now. docs/sdk-trading.md has the SDK facts and the choices.

The terminal's own switch, "Algo Trading": with ``disable_algo_on_switch`` (the terminal option "disable automated
trading when the account has been changed"), a ``login`` that changes the account turns it off; ``order_send``
then answers retcode 10027 until :meth:`TradingSide.enable_algo_trading`.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from mt5_worker.codes import RES_E_FAIL, RES_E_INVALID_PARAMS, error_tuple
from mt5_worker.simulator.ledger import Ledger, profit_at
from mt5_worker.simulator.market import Market, SymbolSpec
from mt5_worker.simulator.parts import SimulatorParts
from mt5_worker.simulator.specs import COMMENT_KEPT_WITH_DEVIATION, AccountSpec
from mt5_worker.simulator.trade_execution import execute
from mt5_worker.simulator.trade_life import Life, position_swap
from mt5_worker.simulator.trade_rules import COMMENTS, Desk, Figures, figures, judge
from mt5_worker.simulator.trade_store import FIRST_TICKET, AccountState, Changes, StoreSession, TradeStore
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import OrderSendResult, Tick, TradePosition, TradeRequest

# The longest comment the SDK passes on. Terminals differ (field reports: 31 on some builds, 28 on others), so
# the simulator refuses only what every build refuses; keep comments to 27 characters for every terminal.
MAX_COMMENT_LENGTH = 31
_REQUEST_DEFAULTS = TradeRequest(0, 0, 0, "", 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, "", 0, 0)
_FLOAT_FIELDS = frozenset({"volume", "price", "stoplimit", "sl", "tp"})
# Answers the terminal gives without asking the server (request_id 0, no prices): seen in recorded results.
_LOCAL_RETCODES = frozenset({c.TRADE_RETCODE_INVALID, c.TRADE_RETCODE_CLIENT_DISABLES_AT})
# A read that finds nothing changed still records how far the account was played once this much has passed.
PERSIST_AFTER_MS = 1000


class TradingSide(SimulatorParts):
    """``order_send``, the merged view of an account's trading, and the terminal's Algo Trading switch."""

    # --- test API ---

    @property
    def trade_store(self) -> TradeStore:
        """The simulated trade servers this terminal trades on (read it with the store's inspection API)."""
        return self._store

    @property
    def algo_trading(self) -> bool:
        """The terminal's "Algo Trading" switch (``terminal_info().trade_allowed``)."""
        return self._algo_trading

    def enable_algo_trading(self) -> None:
        """Press "Algo Trading" again after an account switch turned it off."""
        self._algo_trading = True

    # --- the port ---

    def order_send(self, *args: Any, **kwargs: Any) -> OrderSendResult | None:
        with self._call("order_send"):
            request = self._trade_request("order_send", args, kwargs)
            if request is None:
                return None
            try:
                result = self._send(request)
            except sqlite3.Error:  # the store is unreachable (locked past its timeout, disk full): nothing was done
                self._error = error_tuple(RES_E_FAIL)
                return None
            return None if self._after_fault("order_send") else result

    # --- the account's trading, merged ---

    def book(self, *, history: bool = True) -> tuple[Ledger, AccountState] | None:
        """The active account's trading: the generated ledger merged with the trade server's changes (``None``
        without an authorised account), and the store's own state. Without ``history``: the generated history is
        left out (open positions and pending orders are complete)."""
        account, ledger = self._active, self.ledger(history=history)
        if account is None or ledger is None:
            return None
        now = self.now_ms()
        state = self._store.load(account.server, account.login, history=False)
        moved = self._moved(state, now)
        if moved:  # the market changed it since it was last played forward: play it, for real
            with self._store.session(account.server, account.login) as session:
                self._play(session, now)
        if moved or history:
            state = self._store.load(account.server, account.login, history=history)
        key = (account.server, account.login)
        last = self._merges.get(key)
        if last is None or last[0] is not ledger or last[1] is not state:  # both are kept while nothing changes
            last = self._merges[key] = (ledger, state, merge(ledger, state))
        return last[2], state

    def desk(self) -> Desk | None:
        """The active account as the trade server sees it now."""
        found = self.book(history=False)
        if found is None:
            return None
        book, state = found
        return self._desk(book, state, self.now_ms())

    def figures(self) -> Figures | None:
        """The active account's balance, equity and margin now. ``account_info`` asks for them on every call, so
        they are worked out again only once the account's trading or a tick they depend on has changed. Swaps
        accrue at server midnight, where every tick's span ends (spans end by the hour at the latest)."""
        found, account, market = self.book(history=False), self._active, self.market
        if found is None or account is None or market is None:
            return None
        book, state = found
        now = self.now_ms()
        key = (account.server, account.login)
        last = self._figures.get(key)
        if last is not None and last[0] is book and last[1] <= now < last[2]:
            return last[3]
        with market.steady() as span:
            money = figures(self._desk(book, state, now))
        self._figures[key] = (book, span[0], span[1], money)
        return money

    # --- internals ---

    def _trade_request(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TradeRequest | None:
        """The one positional request of ``order_check``/``order_send``, parsed; ``None`` with the error set."""
        values = self._data_arguments(name, args, kwargs)
        if values is None:
            return None
        request, problem = parse_request(values[0])
        if request is None:
            self._error = error_tuple(RES_E_INVALID_PARAMS, f'Invalid "{problem}" argument')
            return None
        if self._active is None or self.market is None:
            self._error = error_tuple(RES_E_FAIL)
            return None
        return request

    def _send(self, request: TradeRequest) -> OrderSendResult:
        if not self._algo_trading:
            return _result(request, c.TRADE_RETCODE_CLIENT_DISABLES_AT)
        account, ledger = self._active, self.ledger(history=False)
        assert account is not None and ledger is not None
        now = self.now_ms()
        with self._store.session(account.server, account.login) as session:
            self._play(session, now)
            desk = self._desk(merge(ledger, session.state), session.state, now)
            verdict = judge(request, desk)
            if not verdict.accepted:
                tick = verdict.tick
                local = verdict.local or verdict.retcode in _LOCAL_RETCODES
                return _result(request, verdict.retcode, bid=tick.bid if tick and not local else 0.0,
                               ask=tick.ask if tick and not local else 0.0,
                               request_id=0 if local else next(self._request_ids))  # fmt: skip
            kept = request
            if "comment-cut-from-start" in self._deviations:
                kept = request._replace(comment=request.comment[-COMMENT_KEPT_WITH_DEVIATION:])
            outcome = execute(kept, verdict, desk, session.ticket)
            session.apply(outcome.changes)
        tick = verdict.tick
        return OrderSendResult(verdict.retcode, outcome.deal, outcome.order, outcome.volume, outcome.price,
                               tick.bid if tick else 0.0, tick.ask if tick else 0.0, COMMENTS[verdict.retcode],
                               next(self._request_ids), 0, request)  # fmt: skip

    def _moved(self, state: AccountState, now: int) -> bool:
        """Whether a read must play the account forward under the write lock: the market changed it since it was
        last played (found by playing the span without writing: a read that changes nothing takes no lock and
        leaves every process's cache valid), or it was last played long ago (so the next span stays short)."""
        start = state.processed_to
        if not state.lives or start is None or start >= now:
            return False
        if now - start >= PERSIST_AFTER_MS:
            return True
        return self._advance(state, start, now, itertools.count(FIRST_TICKET).__next__) is not None

    def _advance(self, state: AccountState, start: int, now: int, ticket: Callable[[], int]) -> Changes | None:
        account, market, ledger = self._active, self.market, self.ledger(history=False)
        assert account is not None and market is not None and ledger is not None
        generated = [p for p in ledger.positions if p.ticket not in state.taken]
        return Life(market, account, ticket, now).advance(state, generated, account.balance + state.profit, start)

    def _play(self, session: StoreSession, now: int) -> None:
        """Play the account forward from where the store says it was left to ``now``, inside ``session`` (the write
        lock held: no other process plays the same span)."""
        state = session.state
        start = state.processed_to
        if start is not None and start >= now:
            return
        if start is not None and state.lives:
            changes = self._advance(state, start, now, session.ticket)
            if changes is not None:
                session.apply(changes)
                session.reload()
        session.processed(now)

    def _desk(self, book: Ledger, state: AccountState, now: int) -> Desk:
        market, account = self.market, self._active
        assert market is not None and account is not None
        positions = mark_all(market, account, book.positions, now)
        return Desk(market, account, now, account.balance + state.profit, positions, book.orders)


def merge(ledger: Ledger, state: AccountState) -> Ledger:
    """The generated ledger without what the trade server took over, plus what it holds."""

    def kept(rows: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row for row in rows if row.ticket not in state.taken)

    return Ledger(ledger.login, kept(ledger.positions) + state.positions, kept(ledger.orders) + state.orders,
                  ledger.history_orders + state.history_orders, ledger.deals + state.deals)  # fmt: skip


def marked(market: Market, account: AccountSpec, position: TradePosition, now: int) -> TradePosition:
    """A position with its current price and floating profit (Bid closes a buy, Ask a sell)."""
    return mark_all(market, account, (position,), now)[0]


def mark_all(
    market: Market, account: AccountSpec, positions: Iterable[TradePosition], now: int
) -> tuple[TradePosition, ...]:
    """:func:`marked` for many positions, each symbol's tick and rate looked up once."""
    prices: dict[str, tuple[SymbolSpec, Tick, float] | None] = {}
    out = []
    for p in positions:
        if p.symbol not in prices:
            found, tick = market.get(p.symbol), market.tick(p.symbol, now)
            rate = None if found is None else market.rate(found.spec.currency_profit, account.currency, now)
            prices[p.symbol] = None if found is None or tick is None or rate is None else (found.spec, tick, rate)
        known = prices[p.symbol]
        if known is None:
            out.append(p)
            continue
        spec, tick, rate = known
        price = tick.bid if p.type == c.POSITION_TYPE_BUY else tick.ask
        out.append(p._replace(price_current=price, profit=profit_at(spec, p.type, p.volume, p.price_open, price, rate),
                              swap=position_swap(spec, p, now, rate)))  # fmt: skip
    return tuple(out)


def parse_request(value: object) -> tuple[TradeRequest | None, str]:
    """A request dict as a ``TradeRequest`` (omitted fields zero), or ``None`` and the argument the SDK names: a
    non-dict, an unknown key or a value of the wrong type is ``request``; a comment too long is ``comment``."""
    if not isinstance(value, dict) or set(value) - set(TradeRequest._fields):
        return None, "request"
    fields: dict[str, Any] = {}
    for key, item in value.items():
        default = getattr(_REQUEST_DEFAULTS, key)
        if isinstance(item, bool) or not isinstance(item, float | int if key in _FLOAT_FIELDS else type(default)):
            return None, "request"
        fields[key] = float(item) if key in _FLOAT_FIELDS else item
    for key in ("symbol", "comment"):  # text the terminal cannot encode (a lone surrogate) never reaches it
        if key in fields and not _encodable(fields[key]):
            return None, key if key == "comment" else "request"
    if len(fields.get("comment", "")) > MAX_COMMENT_LENGTH:
        return None, "comment"
    return _REQUEST_DEFAULTS._replace(**fields), ""


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _result(request: TradeRequest, retcode: int, *, bid: float = 0.0, ask: float = 0.0,
            request_id: int = 0) -> OrderSendResult:  # fmt: skip
    return OrderSendResult(retcode, 0, 0, 0.0, 0.0, bid, ask, COMMENTS[retcode], request_id, 0, request)
