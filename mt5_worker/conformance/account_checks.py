"""Checks of the account side: the trade records' fields, empty results, ``order_calc_*`` of an unknown symbol,
``order_check`` (docs/sdk-market-data.md, "Account side"). None of them places an order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mt5_worker.codes import RES_E_FAIL, RES_E_INVALID_PARAMS, SUCCESS
from mt5_worker.conformance.connection_checks import field_problems
from mt5_worker.conformance.context import (
    UNKNOWN_SYMBOL,
    Call,
    Context,
    Observation,
    all_failed,
    describe,
    judged,
    unchecked,
)
from mt5_worker.conformance.orders import comment_limit, market_request
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import TradeDeal, TradeOrder, TradePosition

_HISTORY_DAYS = 90


def trade_record_fields(ctx: Context) -> Observation:
    """The fields of whatever the account holds: open positions, pending orders, history orders and deals."""
    source = ctx.sdk if ctx.sdk is not None else ctx.terminal
    now = ctx.server_now()
    start = now - _HISTORY_DAYS * 86_400
    kinds: dict[str, tuple[Callable[[], Any], Any]] = {
        "positions_get()": (lambda: source.positions_get(), TradePosition),
        "orders_get()": (lambda: source.orders_get(), TradeOrder),
        f"history_orders_get(last {_HISTORY_DAYS} days)": (lambda: source.history_orders_get(start, now), TradeOrder),
        f"history_deals_get(last {_HISTORY_DAYS} days)": (lambda: source.history_deals_get(start, now), TradeDeal),
    }
    seen, problems, empty = [], [], []
    for label, (read, record) in kinds.items():
        items = read()
        if not items:
            empty.append(f"{label} -> {describe(items)}")
            continue
        found = field_problems(items[0], record)
        seen.append(f"{label}: {type(items[0]).__name__}, {len(items[0]._asdict())} fields")
        problems += [f"{label}: {p}" for p in found]
    if not seen:
        return unchecked("the account holds no positions, orders or deals to read: " + "; ".join(empty))
    observed = "; ".join(seen) + ("; empty: " + ", ".join(e.split(" -> ")[0] for e in empty) if empty else "")
    verdict = "; ".join(problems) if problems else "names, order, types as expected"
    return judged(not problems, f"{observed}: {verdict}")


def empty_results(ctx: Context) -> Observation:
    t, long_ago = ctx.terminal, 86_400 * 365 * 2
    seen, ok = [], True
    calls: list[Call] = [
        (f"positions_get(symbol={UNKNOWN_SYMBOL!r})", lambda: t.positions_get(symbol=UNKNOWN_SYMBOL)),
        (f"orders_get(symbol={UNKNOWN_SYMBOL!r})", lambda: t.orders_get(symbol=UNKNOWN_SYMBOL)),
        ("history_deals_get(a week in 1972)", lambda: t.history_deals_get(long_ago, long_ago + 7 * 86_400)),
    ]
    for label, call in calls:
        value = call()
        ok = ok and value == () and ctx.error() == SUCCESS
        seen.append(ctx.answer(label, value))
    return judged(ok, "; ".join(seen))


def calc_unknown_symbol(ctx: Context) -> Observation:
    t, s, buy = ctx.terminal, UNKNOWN_SYMBOL, c.ORDER_TYPE_BUY
    return all_failed(ctx, [
        ("order_calc_margin(BUY, unknown, 0.1, 1.0)", lambda: t.order_calc_margin(buy, s, 0.1, 1.0)),
        ("order_calc_profit(BUY, unknown, 0.1, 1.0, 1.1)", lambda: t.order_calc_profit(buy, s, 0.1, 1.0, 1.1)),
    ], RES_E_FAIL)  # fmt: skip


def order_check_accepts(ctx: Context) -> Observation:
    request = market_request(ctx)
    result = ctx.terminal.order_check(request)
    if result is None:
        return judged(False, ctx.answer("order_check(the smallest market buy)", result))
    observed = f"order_check(the smallest market buy) -> retcode {result.retcode} ({result.comment!r})"
    if result.retcode == c.TRADE_RETCODE_MARKET_CLOSED:
        return unchecked(f"{observed}: the market is closed; run it while {ctx.symbol} trades")
    if result.retcode == c.TRADE_RETCODE_CLIENT_DISABLES_AT:
        return unchecked(f"{observed}: the terminal's Algo Trading is off; press it and run again")
    echoed = _echoed(result.request, request)
    ok = result.retcode == c.TRADE_RETCODE_CHECK_OK and result.comment == "Done" and echoed
    return judged(ok, observed + ("; its request echoes what was sent" if echoed else "; its request differs"))


def order_check_bad_request(ctx: Context) -> Observation:
    unknown_key, text_volume = market_request(ctx) | {"no_such_field": 1}, market_request(ctx) | {"volume": "0.01"}
    return all_failed(ctx, [
        ("order_check(a request with an unknown key)", lambda: ctx.terminal.order_check(unknown_key)),
        ("order_check(a request whose volume is text)", lambda: ctx.terminal.order_check(text_volume)),
    ], RES_E_INVALID_PARAMS, 'Invalid "request" argument')  # fmt: skip


def order_check_comment_limit(ctx: Context) -> Observation:
    ok, observed = comment_limit(ctx, "order_check", ctx.terminal.order_check, market_request(ctx))
    return judged(ok, observed)


def _echoed(answered: Any, sent: dict[str, Any]) -> bool:
    fields = answered._asdict()
    return all(fields.get(k) == v or (isinstance(v, float) and abs(float(fields.get(k, 0.0)) - v) < 1e-9)
               for k, v in sent.items())  # fmt: skip
