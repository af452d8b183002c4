"""Checks that trade (``--trading``, a demo account): the smallest market orders, each closed at once; what the
server keeps of a comment; filling modes; the comment limit and the unnamed request of ``order_send`` (with requests
the server refuses); reconciliation; Algo Trading after an account switch (docs/sdk-trading.md, docs/trading.md).
"""

from __future__ import annotations

import uuid
from typing import Any

from mt5_worker.codes import RES_E_INVALID_PARAMS
from mt5_worker.conformance.context import (
    FILLING_NAMES,
    Context,
    Observation,
    differs,
    filling_modes,
    judged,
    unchecked,
)
from mt5_worker.conformance.market_failure_checks import INVALID_KEYWORD
from mt5_worker.conformance.orders import DEVIATION, MAGIC, close, comment_limit, market_request, position_of, send
from mt5_worker.errors import OrderOutcomeUnknownError
from mt5_worker.manager.connection_manager import MT5ConnectionManager
from mt5_worker.manager.order_intents import COMMENT_LIMIT, TAG_LENGTH, prepare
from mt5_worker.manager.trading import Trader
from mt5_worker.terminal import constants as c

_DONE = c.TRADE_RETCODE_DONE


def _refused_volume(ctx: Context) -> dict[str, Any]:
    """A request every server refuses for its volume (10014), so sending it places nothing."""
    return market_request(ctx, volume=float(ctx.info.volume_min) / 2)


def _unusable(ctx: Context, result: Any, what: str) -> Observation | None:
    """An answer (a result, or its retcode) that says the market or the terminal cannot trade now: nothing to
    judge."""
    retcode = result if isinstance(result, int) or result is None else result.retcode
    if retcode == c.TRADE_RETCODE_MARKET_CLOSED:
        return unchecked(f"{what} -> 10018 (market closed): run it while {ctx.symbol} trades")
    if retcode == c.TRADE_RETCODE_CLIENT_DISABLES_AT:
        return unchecked(f"{what} -> 10027: the terminal's Algo Trading is off; press it and run again")
    return None


def order_send_roundtrip(ctx: Context) -> Observation:
    """The smallest market buy executes (10009, its deal, order and volume, a request id); its position's ticket is
    the order's; the closing deal executes and the position is gone."""
    request = market_request(ctx)
    opened = send(ctx, request)
    if opened is None or opened.retcode != _DONE:
        return _unusable(ctx, opened, "order_send") or differs(ctx.answer("order_send(the smallest buy)", opened))
    position = position_of(ctx, opened.deal)
    shape = (opened.deal > 0 and opened.order > 0 and abs(opened.volume - request["volume"]) < 1e-9
             and opened.request_id != 0 and opened.retcode_external == 0)  # fmt: skip
    closed = close(ctx, position)
    gone = not ctx.terminal.positions_get(ticket=position)
    tickets = "set" if opened.deal and opened.order else "missing"
    closing = None if closed is None else closed.retcode
    observed = (f"buy {request['volume']} -> {opened.retcode} ({opened.comment!r}), deal and order {tickets}, "
                f"request_id {'set' if opened.request_id else 0}; position ticket "
                f"{'=' if position == opened.order else '!='} order ticket; close -> {closing}; "
                f"position {'gone' if gone else 'still open'}")  # fmt: skip
    ok = shape and position == opened.order and closed is not None and closed.retcode == _DONE and gone
    return judged(ok, observed)


def comment_kept(ctx: Context) -> Observation:
    """The service's tag at the start of a 27-character comment survives in the order, the deal and the position."""
    intent = _intent(ctx, user_comment="conformance")
    comment = intent.request["comment"]
    opened = send(ctx, market_request(ctx, comment=comment))
    if opened is None or opened.retcode != _DONE:
        return _unusable(ctx, opened, "order_send") or differs(ctx.answer("order_send(a tagged buy)", opened))
    t = ctx.terminal
    position = position_of(ctx, opened.deal)
    kept = {
        "order": _comment(t.history_orders_get(ticket=int(opened.order))),
        "deal": _comment(t.history_deals_get(ticket=int(opened.deal))),
        "position": _comment(t.positions_get(ticket=position)),
    }
    closed = close(ctx, position)
    tag = intent.tag
    observed = f"sent {len(comment)} characters, the tag first; kept: " + "; ".join(
        f"{where} {_shown(value, comment, tag)}" for where, value in kept.items()
    )
    if closed is None or closed.retcode != _DONE:
        observed += f"; closing it failed ({ctx.error()})"
    return judged(all(value is not None and value.startswith(tag) for value in kept.values()), observed)


def filling_modes_check(ctx: Context) -> Observation:
    """Each filling the symbol allows executes (then closes); each it does not is refused with 10030."""
    allowed = filling_modes(ctx.info)
    seen, ok = [], True
    for mode, expected in allowed.items():
        result = send(ctx, market_request(ctx, filling=mode))
        name = FILLING_NAMES[mode]
        unusable = _unusable(ctx, result, f"order_send(type_filling={name})")
        if unusable is not None:
            return unusable
        retcode = None if result is None else result.retcode
        if retcode == _DONE:
            closed = close(ctx, position_of(ctx, result.deal))
            seen.append(f"{name} -> 10009 (closed: {None if closed is None else closed.retcode})")
        else:
            seen.append(f"{name} -> {retcode}" + (f", {ctx.error()}" if result is None else ""))
        ok = ok and (retcode == _DONE if expected else retcode == c.TRADE_RETCODE_INVALID_FILL)
    exemode = int(ctx.info.trade_exemode)
    return judged(ok, f"filling_mode {int(ctx.info.filling_mode)}, execution mode {exemode}: " + "; ".join(seen))


def order_send_comment_limit(ctx: Context) -> Observation:
    """The comment limit of ``order_send``, measured with requests the server refuses for their volume."""
    ok, observed = comment_limit(ctx, "order_send", ctx.terminal.order_send, _refused_volume(ctx))
    return judged(ok, observed + " (requests refused for their volume: nothing placed)")


def order_send_request_unnamed(ctx: Context) -> Observation:
    sdk = ctx.sdk
    assert sdk is not None
    value = sdk.order_send(request=_refused_volume(ctx))
    ok = ctx.failed_with(value, RES_E_INVALID_PARAMS, INVALID_KEYWORD)
    return judged(ok, ctx.answer("order_send(request=<a request refused for its volume>)", value))


def reconciliation_finds(ctx: Context) -> Observation:
    """The service's own path: an order sent by the manager's ``Trader`` is found again by its tag."""
    manager = MT5ConnectionManager(ctx.terminal, ctx.settings)
    trader = Trader(manager, clock=ctx.clock)
    intent = _intent(ctx, user_comment="reconcile")
    a = ctx.account
    since = ctx.clock()
    answer = trader.send(intent, password=a.password, server=a.server)
    if answer["retcode"] != _DONE:
        result = _unusable(ctx, int(answer["retcode"]), "Trader.send")
        return result or differs(f"Trader.send -> retcode {answer['retcode']} ({answer['comment']!r})")
    position = position_of(ctx, int(answer["deal"]))
    ctx.opened.append((position, float(answer["volume"]), c.ORDER_TYPE_BUY))
    try:
        found = trader.find(intent, since, password=a.password, server=a.server)
    except OrderOutcomeUnknownError as exc:
        return differs(f"Trader.send -> 10009; Trader.find -> {exc.message}")
    finally:
        close(ctx, position)
    if found is None:
        return differs("Trader.send -> 10009; Trader.find -> nothing (the order was not found by its tag)")
    same = int(found["deal"]) == int(answer["deal"]) and int(found["order"]) == int(answer["order"])
    return judged(same, f"Trader.send -> 10009; Trader.find -> retcode {found['retcode']}, "
                        f"{'the same deal and order' if same else 'another deal or order'}")  # fmt: skip


def algo_after_switch(ctx: Context) -> Observation:
    """After ``login()`` switches the account, Algo Trading is either still on (the terminal option is off), or off,
    and then ``order_send`` answers 10027 (a result, nothing executed) and ``order_check`` 10027 too."""
    second = ctx.second
    if second is None:
        return unchecked("needs a second account to switch to (--switch-login, --switch-server, --switch-password-env)")
    t, timeout = ctx.terminal, ctx.settings.terminal_timeout_ms
    info = t.terminal_info()
    if info is None or not info.trade_allowed:
        return unchecked("the terminal's Algo Trading is off before the switch: press it and run again")
    if not t.login(second.login, second.password, second.server, timeout=timeout):
        error = ctx.error()
        ctx.login_again()
        return unchecked(f"login() to the second account failed: {error}")
    try:
        after = t.terminal_info()
        if after is not None and after.trade_allowed:
            check = t.order_check(market_request(ctx))
            retcode = None if check is None else check.retcode
            return judged(retcode is not None, f"Algo Trading stayed on after the switch (the terminal option is off);"
                                               f" order_check -> retcode {retcode}")  # fmt: skip
        sent = t.order_send(market_request(ctx))
        sent_error = ctx.error()
        checked = t.order_check(market_request(ctx))
        check_error = ctx.error()
        observed = (f"Algo Trading went off with the switch; order_send -> {_retcode(sent, sent_error)}; "
                    f"order_check -> {_retcode(checked, check_error)}")  # fmt: skip
        refused = c.TRADE_RETCODE_CLIENT_DISABLES_AT
        ok = sent is not None and sent.retcode == refused and checked is not None and checked.retcode == refused
        if sent is not None and sent.retcode == _DONE:
            ctx.opened.append((position_of(ctx, sent.deal), float(sent.volume), c.ORDER_TYPE_BUY))
        return judged(ok, observed)
    finally:
        ctx.login_again()
        if not _algo_on(ctx) and not ctx.press_algo_trading():
            ctx.notes.append("The account switch turned the terminal's Algo Trading off: press the button again.")


def _retcode(result: Any, error: tuple[int, str]) -> str:
    return f"retcode {result.retcode}" if result is not None else f"None, {error}"


def _algo_on(ctx: Context) -> bool:
    info = ctx.terminal.terminal_info()
    return info is not None and bool(info.trade_allowed)


def _intent(ctx: Context, user_comment: str) -> Any:
    """An order as the service prepares it (its tag at the start of the comment), filling the comment to the limit
    every terminal accepts."""
    room = COMMENT_LIMIT - TAG_LENGTH - 1  # the tag and a space go first
    market = market_request(ctx)
    request = {"action": "deal", "symbol": ctx.symbol, "volume": market["volume"], "type": "buy",
               "price": market["price"], "deviation": DEVIATION, "magic": MAGIC, "type_filling": market["type_filling"],
               "comment": (user_comment + "-" + "x" * room)[:room] if user_comment else ""}  # fmt: skip
    return prepare(ctx.account.login, request, f"conformance-{uuid.uuid4()}")


def _comment(records: Any) -> str | None:
    return str(records[0].comment) if records else None


def _shown(value: str | None, sent: str, tag: str) -> str:
    """What the server kept of a comment, in words (the comment itself is the run's own text)."""
    if value is None:
        return "(no record found)"
    if value == sent:
        return "all of it"
    return f"{value!r} ({'the tag survived' if value.startswith(tag) else 'the tag is lost'})"
