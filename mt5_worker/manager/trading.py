"""Sending an order through one terminal, and finding it again: the terminal side of exactly-once trading.

:class:`Trader` knows nothing of keys' records (that is :mod:`~mt5_worker.fleet.order_desk`); it answers two
questions for an :class:`~mt5_worker.manager.order_intents.OrderIntent`, holding the terminal for each:

- :meth:`Trader.send`: check that the terminal and the account allow trading, search the account for the intent's
  tag when asked (a fresh key whose record may have been lost: the trade server is the record), build the request
  from the account's state for the desk's calls (:mod:`~mt5_worker.manager.desk_calls`), then ``order_send`` once.
  A failure of the ``order_send`` call itself after which the request may have left (IPC errors) raises
  :class:`~mt5_worker.errors.OrderOutcomeUnknownError`; any other failure means nothing was sent.
- :meth:`Trader.find`: look for the intent's execution in the account's orders, positions and recent history
  (by its tag), or, for actions that leave no record of their own (SL/TP, modify, remove), whether the state it
  asks for is already there. ``None`` when provably nothing happened.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from mt5_worker.codes import RES_E_FAIL
from mt5_worker.errors import MT5Error, OrderOutcomeUnknownError, PermanentMT5Error, TradingDisabledError
from mt5_worker.manager.connection_manager import MT5ConnectionManager
from mt5_worker.manager.market_data import record
from mt5_worker.manager.order_intents import TAG_LENGTH, TAG_PREFIX, Answered, OrderIntent, matches, tagged
from mt5_worker.terminal import constants as c

ALGO_OPTION = (
    "the terminal's Algo Trading is off: enable it, and in Tools > Options > Expert Advisors clear \"Disable "
    'automated trading when the account has been changed" (a pooled terminal switches accounts with login())'
)
FOUND = "found by reconciliation"
HISTORY_MARGIN = 86_400  # seconds each side of the search window: trade server time is not UTC on most servers
_TOLERANCE = 1e-9
# What a request's own execution is made with (the SDK's ENUM_DEAL_REASON / ENUM_ORDER_REASON): an SL, a TP or a
# stop-out is the server's doing, never a request's, so it is no lookalike of one.
REQUEST_REASONS = frozenset({c.REASON_CLIENT, c.REASON_MOBILE, c.REASON_WEB, c.REASON_EXPERT})


def order_result(result: Any) -> dict[str, Any]:
    """An ``OrderSendResult`` as JSON, its ``request`` a JSON object too."""
    return record(result) | {"request": record(result.request)}


def synthesized(intent: OrderIntent, retcode: int, *, deal: int = 0, order: int = 0, volume: float = 0.0,
                price: float = 0.0, comment: str, symbol: str = "") -> dict[str, Any]:  # fmt: skip
    """The result of an execution found by reconciliation, in ``OrderSendResult``'s shape (``symbol``: the one it
    traded, when the request does not name it: a desk call's)."""
    request = dict(intent.request) | ({"symbol": symbol} if symbol and not intent.request.get("symbol") else {})
    return {"retcode": retcode, "deal": deal, "order": order, "volume": volume, "price": price, "bid": 0.0, "ask": 0.0,
            "comment": comment, "request_id": 0, "retcode_external": 0, "request": request}  # fmt: skip


class Trader:
    """Order sending and finding for any account of one terminal."""

    def __init__(self, manager: MT5ConnectionManager, clock: Callable[[], float] = time.time) -> None:
        self.manager = manager
        self._clock = clock

    def send(
        self, intent: OrderIntent, *, before_send: Callable[[], None] = lambda: None, password: Any = None,
        server: Any = None, attempt: int = 1,
    ) -> dict[str, Any]:  # fmt: skip
        """``order_send`` once, after checking that trading is allowed and calling ``before_send`` (the last word
        before the order leaves: it raises to stop it); the ``OrderSendResult`` as JSON. The errors of
        :meth:`send_or_find`."""
        return self.send_or_find(intent, before_send=before_send, password=password, server=server,
                                 attempt=attempt)[1]  # fmt: skip

    def send_or_find(
        self, intent: OrderIntent, *, before_send: Callable[[], None] = lambda: None, search_since: float | None = None,
        password: Any = None, server: Any = None, attempt: int = 1,
    ) -> tuple[str, dict[str, Any]]:  # fmt: skip
        """:meth:`send`, answering ``("sent", the OrderSendResult as JSON)``; with ``search_since`` (this machine's
        clock), the account's deals and orders since then are searched for the intent's tag first (orders that leave
        one only): an execution found is answered ``("reconciled", ...)`` and nothing is sent. A desk call's request
        is built from the account now; one that needs nothing sent is answered ``("sent", ...)`` with
        ``request_id`` 0.

        Raises :class:`TradingDisabledError` (nothing sent) when the terminal or account does not allow trading or
        the terminal answers 10027; :class:`OrderOutcomeUnknownError` when the ``order_send`` call failed or was
        interrupted in a way that does not prove the order stayed (an IPC error, a time limit, an answer that
        could not be read); the typed error of any other failure (nothing sent)."""
        with self.manager.acquire(intent.login, password, server, attempt=attempt) as call:
            terminal = call("terminal_info")
            if not terminal.trade_allowed:
                raise TradingDisabledError(f"account {intent.login}: {ALGO_OPTION}", c.TRADE_RETCODE_CLIENT_DISABLES_AT)
            account = call("account_info")
            if not account.trade_allowed or not account.trade_expert:
                what = "trading" if not account.trade_allowed else "trading by experts (API)"
                raise TradingDisabledError(
                    f"account {intent.login}: the trade server does not allow {what} on this account (its "
                    "account_info().trade_allowed/trade_expert is false); ask the broker",
                    c.TRADE_RETCODE_TRADE_DISABLED,
                )
            if search_since is not None and intent.recorded:
                found = self._search(call, intent, search_since, attempt, lookalikes=False)
                if found is not None:
                    return "reconciled", found
            try:
                request = intent.build(call) if intent.build is not None else dict(intent.request)
            except Answered as answered:
                return "sent", answered.result
            before_send()
            try:
                result = call("order_send", request)
                answer = order_result(result)
            except PermanentMT5Error:  # the SDK refused the arguments: the request never left
                raise
            except Exception as exc:  # whatever stopped it (IPC, a soft time limit), the request may have left
                code, reason = (exc.code, exc.message) if isinstance(exc, MT5Error) else (RES_E_FAIL, repr(exc))
                raise OrderOutcomeUnknownError(
                    f"order {intent.key!r} of account {intent.login}: order_send failed after the request may have "
                    f"left ({reason}); it will be reconciled, never resent blindly",
                    code,
                    attempt,
                ) from None
        if result.retcode == c.TRADE_RETCODE_CLIENT_DISABLES_AT:
            raise TradingDisabledError(f"account {intent.login}: {ALGO_OPTION}", c.TRADE_RETCODE_CLIENT_DISABLES_AT)
        return "sent", answer

    def positions(self, login: int, selects: Callable[[dict[str, Any]], bool], *, password: Any = None,
                  server: Any = None, attempt: int = 1) -> list[int]:  # fmt: skip
        """The tickets of the account's open positions that ``selects`` keeps, oldest first."""
        with self.manager.acquire(login, password, server, attempt=attempt) as call:
            found = [record(p) for p in call("positions_get")]
        return [int(p["ticket"]) for p in sorted(found, key=lambda p: (p["time_msc"], p["ticket"])) if selects(p)]

    def find(self, intent: OrderIntent, since: float, *, password: Any = None, server: Any = None,
             attempt: int = 1) -> dict[str, Any] | None:  # fmt: skip
        """The intent's execution if the account shows one; ``None`` if provably none happened. Raises
        :class:`OrderOutcomeUnknownError` when the account shows an untagged trade that could be it (a server that
        rewrote the comment): never resend then."""
        with self.manager.acquire(intent.login, password, server, attempt=attempt) as call:
            if not intent.recorded:
                return self._state_reached(intent, call)
            return self._search(call, intent, since, attempt, lookalikes=True)

    def _search(self, call: Callable[..., Any], intent: OrderIntent, since: float, attempt: int, *,
                lookalikes: bool) -> dict[str, Any] | None:  # fmt: skip
        """The intent's execution found by its tag since ``since``; with ``lookalikes``, an untagged trade that could
        be it raises :class:`OrderOutcomeUnknownError` (only after a failure: a fresh key's search must not mistake
        the account's other trades for its order)."""
        lo, hi = self._window(call, intent, since)
        pending = intent.request["action"] == c.TRADE_ACTION_PENDING
        window = call("history_deals_get", lo, hi)
        # Only what carries the tag becomes JSON (a busy account's window holds thousands of deals); every record
        # only when lookalikes are asked for.
        deals = [record(d) for d in window if lookalikes or tagged(str(d.comment), intent.tag)]
        orders = [record(o) for o in call("orders_get")] if pending or lookalikes else []
        history = [record(o) for o in call("history_orders_get", lo, hi)] if pending or lookalikes else []
        placed = [o for o in orders + history if tagged(str(o.get("comment", "")), intent.tag)] if pending else []
        if placed:  # placed (its answer was 10008), whatever became of it since: filled, canceled, expired
            found = placed[0]
            return synthesized(intent, c.TRADE_RETCODE_PLACED, order=int(found["ticket"]),
                               volume=float(found["volume_initial"]), price=float(found["price_open"]),
                               comment=FOUND, symbol=str(found["symbol"]))  # fmt: skip
        mine = [d for d in deals if tagged(str(d.get("comment", "")), intent.tag)]
        if mine:
            first = mine[0]  # the fills of its order on its position: a close-by's two deals close one volume
            same = [d for d in mine if (d["order"], d["position_id"]) == (first["order"], first["position_id"])]
            volume = round(sum(float(d["volume"]) for d in same), 8)
            return synthesized(intent, c.TRADE_RETCODE_DONE, deal=int(first["ticket"]), order=int(first["order"]),
                               volume=volume, price=float(first["price"]), comment=FOUND,
                               symbol=str(first["symbol"]))  # fmt: skip
        found_alike = [r for r in deals + orders + history if _untagged(r) and _by_request(r) and matches(intent, r)]
        if lookalikes and found_alike:
            raise OrderOutcomeUnknownError(
                f"order {intent.key!r} of account {intent.login}: not found by its tag, but {len(found_alike)} "
                "untagged trade(s) of the same symbol, direction, volume and magic exist (the server may rewrite "
                "comments); not resent: check the account's history",
                attempts=attempt,
            )
        return None

    def _window(self, call: Callable[..., Any], intent: OrderIntent, since: float) -> tuple[int, int]:
        """The history dates (the trade server's clock) that hold whatever ``intent`` did since ``since`` (this
        machine's clock). The server's clock is not this machine's (a time zone, a simulator's offset): the
        symbol's last tick tells how far apart they are, or less when its market is closed, which only widens
        the window (an execution happened at a tick, at or before the last one)."""
        now = self._clock()
        tick = None
        with contextlib.suppress(MT5Error):  # no tick to read: this machine's clock, and the margin for time zones
            symbol = _symbol_of(call, intent.request)
            tick = call("symbol_info_tick", symbol) if symbol else None
        last = float(tick.time) if tick is not None and tick.time > 0 else now
        return int(since + min(0.0, last - now)) - HISTORY_MARGIN, int(max(now, last)) + HISTORY_MARGIN

    def _state_reached(self, intent: OrderIntent, call: Callable[..., Any]) -> dict[str, Any] | None:
        """For SL/TP, modify and remove (idempotent by nature): whether the account already shows the result."""
        r = intent.request
        done = synthesized(intent, c.TRADE_RETCODE_DONE, order=int(r.get("order", 0)), comment="state reached")
        if r["action"] == c.TRADE_ACTION_SLTP:
            positions = call("positions_get", ticket=r["position"])
            if not positions:  # closed since: whether the stops were set no longer matters, and cannot be redone
                return synthesized(intent, c.TRADE_RETCODE_POSITION_CLOSED, comment="position closed")
            return done if _same_stops(record(positions[0]), r) else None
        orders = call("orders_get", ticket=r["order"])
        if r["action"] == c.TRADE_ACTION_REMOVE:  # removed: in the history as canceled, not filled or expired
            if orders:
                return None
            history = [record(o) for o in call("history_orders_get", ticket=r["order"])]
            return done if history and history[0]["state"] == c.ORDER_STATE_CANCELED else None
        if not orders:
            return None
        found = record(orders[0])
        asked = {"price_open": r["price"], "sl": r.get("sl", 0.0), "tp": r.get("tp", 0.0),
                 "price_stoplimit": r.get("stoplimit", 0.0)}  # fmt: skip
        same = all(abs(float(found[k]) - float(v)) < _TOLERANCE for k, v in asked.items())
        same = same and all(found[k] == r.get(v, 0) for k, v in (("type_time", "type_time"),
                                                                  ("time_expiration", "expiration")))  # fmt: skip
        return done if same else None


def _same_stops(found: dict[str, Any], request: dict[str, Any]) -> bool:
    return all(abs(float(found[k]) - float(request.get(k, 0.0))) < _TOLERANCE for k in ("sl", "tp"))


def _symbol_of(call: Callable[..., Any], request: dict[str, Any]) -> str | None:
    """The request's symbol, or its position's (a close-by names positions only)."""
    if request.get("symbol"):
        return str(request["symbol"])
    deals = call("history_deals_get", position=request["position"]) if request.get("position") else None
    return str(deals[0].symbol) if deals else None


def _by_request(item: dict[str, Any]) -> bool:
    """A deal or order a request made (not an SL, a TP or a stop-out: the server's own)."""
    return int(item.get("reason", c.REASON_CLIENT)) in REQUEST_REASONS


def _untagged(item: dict[str, Any]) -> bool:
    """A record whose comment carries no idempotency tag of this service (ours or another key's)."""
    comment = str(item.get("comment", ""))
    return not (comment.startswith(TAG_PREFIX) and comment[1:TAG_LENGTH].isalnum() and len(comment) >= TAG_LENGTH)
