"""A trading desk's everyday calls as order intents: close a position (or part of it), close many, move SL/TP,
cancel a pending order.

Each is an :class:`~mt5_worker.manager.order_intents.OrderIntent` sent at most once per idempotency key exactly as
``mt5.order_send`` (:class:`~mt5_worker.fleet.order_desk.OrderDesk`), with two differences:

- its request is built when it is sent, from the account as the terminal shows it then
  (:attr:`~mt5_worker.manager.order_intents.OrderIntent.build`): the position's symbol, the opposite type, the
  current price (Bid to close a buy, Ask to close a sell), the volume (the whole position unless given) and a filling
  mode the symbol allows; a position that is already closed is answered ``10036`` ("Position closed") without
  sending anything;
- its idempotency fingerprint is the call and its arguments, not the request: the same key sent again a minute
  later, at another price, is the same call.

A batch (``mt5.close_positions``) has one key; each position's close has its own key, derived from it
(:func:`child_key`) and reported in its answer, so each is at most once on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mt5_worker.errors import InvalidRequestError
from mt5_worker.manager import market_requests as req
from mt5_worker.manager.order_intents import KEY_LIMIT, Answered, OrderIntent, fingerprint_of, idempotency_key, tag_of
from mt5_worker.terminal import constants as c

DEFAULT_DEVIATION = 20  # points: the SDK page's own example (mt5ordersend_py)
MAX_DEVIATION = 1_000_000
BATCH_KEY_LIMIT = KEY_LIMIT - 20  # room for "/" and a ticket in each position's own key
POSITION_CLOSED = "Position closed"


@dataclass(frozen=True)
class Batch:
    """``mt5.close_positions``: one key for the positions of an account (all, or one symbol's, one magic's)."""

    login: int
    key: str
    symbol: str | None
    magic: int | None
    fingerprint: str

    def selects(self, position: dict[str, Any]) -> bool:
        return (self.symbol is None or position["symbol"] == self.symbol) and (
            self.magic is None or int(position["magic"]) == self.magic
        )


def child_key(batch_key: str, ticket: int) -> str:
    """The idempotency key of a batch's close of one position."""
    return f"{batch_key}/{ticket}"


def close_position(login: Any, ticket: Any, key: Any, volume: Any = None,
                   deviation: Any = DEFAULT_DEVIATION) -> OrderIntent:  # fmt: skip
    """Close position ``ticket`` (``volume`` lots of it, or all) at the current price."""
    account, position, key = req.ticket(login, "login"), req.ticket(ticket), idempotency_key(key)
    lots = None if volume is None else req.number(volume, "volume", positive=True)
    points = _deviation(deviation)
    tag = tag_of(account, key)
    template: dict[str, Any] = {"action": c.TRADE_ACTION_DEAL, "position": position, "deviation": points,
                                "comment": tag} | ({"volume": lots} if lots is not None else {})  # fmt: skip
    call = {"call": "close_position", "ticket": position, "volume": lots, "deviation": points}

    def build(terminal: Any) -> dict[str, Any]:
        found = _open_position(terminal, account, position, template)
        symbol = str(found.symbol)
        info, tick = terminal("symbol_info", symbol), terminal("symbol_info_tick", symbol)
        buy = found.type == c.POSITION_TYPE_BUY
        return template | {
            "symbol": symbol, "type": c.ORDER_TYPE_SELL if buy else c.ORDER_TYPE_BUY,
            "volume": lots if lots is not None else float(found.volume), "price": tick.bid if buy else tick.ask,
            "type_filling": filling_for(info), "magic": int(found.magic),
        }  # fmt: skip

    return OrderIntent(account, key, template, tag, fingerprint_of(account, call), build)


def modify_position(login: Any, ticket: Any, sl: Any, tp: Any, key: Any) -> OrderIntent:
    """Set position ``ticket``'s stop loss and take profit (0: none)."""
    account, position, key = req.ticket(login, "login"), req.ticket(ticket), idempotency_key(key)
    stops = {name: _price(value, name) for name, value in (("sl", sl), ("tp", tp))}
    tag = tag_of(account, key)
    template: dict[str, Any] = {"action": c.TRADE_ACTION_SLTP, "position": position, **stops, "comment": tag}

    def build(terminal: Any) -> dict[str, Any]:
        return template | {"symbol": str(_open_position(terminal, account, position, template).symbol)}

    call = {"call": "modify_position", "ticket": position, **stops}
    return OrderIntent(account, key, template, tag, fingerprint_of(account, call), build)


def cancel_order(login: Any, ticket: Any, key: Any) -> OrderIntent:
    """Remove pending order ``ticket``."""
    account, order, key = req.ticket(login, "login"), req.ticket(ticket), idempotency_key(key)
    tag = tag_of(account, key)
    template: dict[str, Any] = {"action": c.TRADE_ACTION_REMOVE, "order": order, "comment": tag}
    return OrderIntent(account, key, template, tag, fingerprint_of(account, {"call": "cancel_order", "ticket": order}))


def batch(login: Any, key: Any, symbol: Any = None, magic: Any = None) -> Batch:
    """``mt5.close_positions``'s arguments, checked."""
    account, key = req.ticket(login, "login"), idempotency_key(key)
    if len(key) > BATCH_KEY_LIMIT:
        raise InvalidRequestError(
            f"invalid idempotency_key: at most {BATCH_KEY_LIMIT} characters for close_positions (each position's "
            "own key is the batch's plus /<ticket>)"
        )
    name = None if symbol is None else req.symbol(symbol)
    number = None if magic is None else _magic(magic)
    call = {"call": "close_positions", "symbol": name, "magic": number}
    return Batch(account, key, name, number, fingerprint_of(account, call))


def filling_for(info: Any) -> int:
    """A filling mode the symbol allows: FOK or IOC by its ``filling_mode`` bits, else Return (every execution mode
    but Market allows it; docs/sdk-trading.md)."""
    if info.filling_mode & c.SYMBOL_FILLING_FOK:
        return c.ORDER_FILLING_FOK
    if info.filling_mode & c.SYMBOL_FILLING_IOC:
        return c.ORDER_FILLING_IOC
    return c.ORDER_FILLING_RETURN


def _open_position(terminal: Any, login: int, ticket: int, template: dict[str, Any]) -> Any:
    """The open position ``ticket``; raises :class:`Answered` (10036) when it was closed, or
    :class:`InvalidRequestError` when the account never had it (nothing sent either way)."""
    found = terminal("positions_get", ticket=ticket)
    if found:
        return found[0]
    deals = terminal("history_deals_get", position=ticket)
    if deals:
        raise Answered({"retcode": c.TRADE_RETCODE_POSITION_CLOSED, "deal": 0, "order": 0, "volume": 0.0,
                        "price": 0.0, "bid": 0.0, "ask": 0.0, "comment": POSITION_CLOSED, "request_id": 0,
                        "retcode_external": 0, "request": template | {"symbol": str(deals[0].symbol)}})  # fmt: skip
    raise InvalidRequestError(f"invalid ticket: account {login} has no position {ticket}")


def _deviation(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DEVIATION:
        raise InvalidRequestError(f"invalid deviation: an integer number of points, 0-{MAX_DEVIATION}")
    return value


def _price(value: Any, name: str) -> float:
    price = req.number(value, name)
    if price < 0 or not math.isfinite(price):
        raise InvalidRequestError(f"invalid {name}: a price, or 0 for none")
    return price


def _magic(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidRequestError("invalid magic: an integer >= 0")
    return value
