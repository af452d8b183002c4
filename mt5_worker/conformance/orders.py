"""The trade requests the checks make: the symbol's smallest market order, its closing deal, and the positions a run
opened, all closed before the run ends.

Every position a check opens is recorded in :attr:`Context.opened` as soon as ``order_send`` answers, and closed at
once by the check; :func:`close_opened` closes whatever a failed check left (the runner calls it last, whatever
happened). Positions are found by their deal's ``position_id``, which holds on netting accounts too, and closed by
the volume the run opened, never more.
"""

from __future__ import annotations

from typing import Any

from mt5_worker.conformance.context import Context, filling_modes
from mt5_worker.terminal import constants as c

MAGIC = 24_240_001  # the expert id of the conformance run's orders: they are easy to tell in a terminal's history
DEVIATION = 50  # points a market order may slip (instant and request execution)
_RETRY = frozenset({c.TRADE_RETCODE_REQUOTE, c.TRADE_RETCODE_PRICE_CHANGED})  # ask again with a fresh price
INVALID_COMMENT = 'Invalid "comment" argument'


def market_request(
    ctx: Context, *, kind: int = c.ORDER_TYPE_BUY, volume: float | None = None, filling: int | None = None,
    comment: str = "", position: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """A market deal on the run's symbol: its smallest volume, the first filling it allows, the current price."""
    info, tick = ctx.info, ctx.tick()
    if filling is None:
        filling = next((mode for mode, allowed in filling_modes(info).items() if allowed), c.ORDER_FILLING_FOK)
    request: dict[str, Any] = {
        "action": c.TRADE_ACTION_DEAL,
        "symbol": ctx.symbol,
        "volume": float(volume if volume is not None else info.volume_min),
        "type": kind,
        "price": float(tick.ask if kind == c.ORDER_TYPE_BUY else tick.bid),
        "deviation": DEVIATION,
        "type_filling": filling,
        "type_time": c.ORDER_TIME_GTC,
        "magic": MAGIC,
        "comment": comment,
    }
    if position:
        request["position"] = position
    return request


def send(ctx: Context, request: dict[str, Any]) -> Any:
    """``order_send`` once, again (up to twice) with a fresh price after a requote; opened positions are recorded."""
    result = None
    for _ in range(3):
        result = ctx.terminal.order_send(request)
        if result is None or result.retcode not in _RETRY:
            break
        tick = ctx.tick()
        request = request | {"price": float(tick.ask if request["type"] == c.ORDER_TYPE_BUY else tick.bid)}
    if result is not None and result.retcode == c.TRADE_RETCODE_DONE and not request.get("position"):
        position = position_of(ctx, result.deal)
        if position:
            ctx.opened.append((position, float(result.volume), int(request["type"])))
    return result


def position_of(ctx: Context, deal: int) -> int:
    """The position a deal opened: its ``position_id`` (0 if the deal cannot be read)."""
    deals = ctx.terminal.history_deals_get(ticket=int(deal)) if deal else None
    return int(deals[0].position_id) if deals else 0


def close(ctx: Context, position: int) -> Any:
    """Close what the run opened of ``position``, with the opposite deal; the result (``None`` if not opened)."""
    mine = next((item for item in ctx.opened if item[0] == position), None)
    if mine is None:
        return None
    _, volume, kind = mine
    opposite = c.ORDER_TYPE_SELL if kind == c.ORDER_TYPE_BUY else c.ORDER_TYPE_BUY
    result = send(ctx, market_request(ctx, kind=opposite, volume=volume, position=position))
    if result is not None and result.retcode == c.TRADE_RETCODE_DONE:
        ctx.opened.remove(mine)
    return result


def close_opened(ctx: Context) -> list[str]:
    """Close every position the run opened and did not close; what could not be closed, in words."""
    left = []
    for position, _, _ in list(ctx.opened):
        if not ctx.terminal.positions_get(ticket=position):
            ctx.opened[:] = [item for item in ctx.opened if item[0] != position]
            continue
        result = close(ctx, position)
        if result is None or result.retcode != c.TRADE_RETCODE_DONE:
            retcode = None if result is None else result.retcode
            left.append(f"position {position} (retcode {retcode}, {ctx.error()})")
    return left


def comment_limit(ctx: Context, label: str, call: Any, request: dict[str, Any]) -> tuple[bool, str]:
    """The longest comment ``call(request)`` accepts (20 to 40 characters, and 64): whether 27 pass, longer ones are
    refused with ``(-2, 'Invalid "comment" argument')`` rather than cut, and what was seen, in words."""
    accepted, refusals = [], {}
    for length in (*range(20, 41), 64):
        value = call(request | {"comment": ("conformance-" * 6)[:length]})
        error = ctx.error()
        if value is None:
            refusals[length] = error
        else:
            accepted.append(length)
    if not accepted:
        return False, f"{label}: no comment of 20 to 40 characters accepted: {refusals.get(20)}"
    longest = max(accepted)
    refused = sorted(refusals)
    contiguous = accepted == list(range(20, longest + 1)) and all(n > longest for n in refused)
    proper = all(e == (-2, INVALID_COMMENT) for e in refusals.values())
    first = f"; {refused[0]}: None, {refusals[refused[0]]}" if refused else "; nothing refused up to 64"
    ok = longest >= 27 and contiguous and proper and bool(refused)
    return ok, f"{label} accepts comments of up to {longest} characters{first}"
