"""Checks of how the market side fails: unknown symbols, a symbol outside Market Watch, the Depth of Market without
a subscription, history the terminal does not hold, empty ranges, and arguments it refuses
(docs/sdk-market-data.md, "Errors" and "Functions and argument conventions")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mt5_worker.codes import RES_E_FAIL, RES_E_INVALID_PARAMS, RES_E_NOT_FOUND, SUCCESS
from mt5_worker.conformance.context import (
    UNKNOWN_SYMBOL,
    Call,
    Context,
    Observation,
    all_failed,
    failures,
    judged,
    unchecked,
)
from mt5_worker.terminal import constants as c

INVALID_KEYWORD = "Invalid parameters"  # what peers saw for a date passed by keyword
INVALID_COUNT = "Invalid number of arguments"  # the wheel's text for initialize()
_LONG_AGO = int(datetime(1972, 1, 3, tzinfo=UTC).timestamp())  # before any trade server's history


def symbol_info_unknown(ctx: Context) -> Observation:
    label = f"symbol_info({UNKNOWN_SYMBOL!r})"
    return all_failed(ctx, [(label, lambda: ctx.terminal.symbol_info(UNKNOWN_SYMBOL))], RES_E_NOT_FOUND)


def symbol_functions_unknown(ctx: Context) -> Observation:
    t, s = ctx.terminal, UNKNOWN_SYMBOL
    calls: list[Call] = [
        ("symbol_info_tick", lambda: t.symbol_info_tick(s)),
        ("symbol_select", lambda: t.symbol_select(s, True)),
        ("market_book_add", lambda: t.market_book_add(s)),
        ("market_book_get", lambda: t.market_book_get(s)),
        ("market_book_release", lambda: t.market_book_release(s)),
    ]
    return all_failed(ctx, calls, RES_E_NOT_FOUND)


def tick_outside_market_watch(ctx: Context) -> Observation:
    symbols = ctx.terminal.symbols_get()
    hidden = [s.name for s in symbols or () if not s.select]
    if not hidden:
        return unchecked("every symbol is in Market Watch: hide one (right click, Hide) to check this")
    name = hidden[0]
    label = f"symbol_info_tick of {name}, not in Market Watch"
    return all_failed(ctx, [(label, lambda: ctx.terminal.symbol_info_tick(name))], RES_E_FAIL)


def rates_unknown_symbol(ctx: Context) -> Observation:
    t, s, now = ctx.terminal, UNKNOWN_SYMBOL, ctx.server_now()
    calls: list[Call] = [
        ("copy_rates_from", lambda: t.copy_rates_from(s, c.TIMEFRAME_M1, now, 10)),
        ("copy_rates_from_pos", lambda: t.copy_rates_from_pos(s, c.TIMEFRAME_M1, 0, 10)),
        ("copy_rates_range", lambda: t.copy_rates_range(s, c.TIMEFRAME_M1, now - 3600, now)),
    ]
    return all_failed(ctx, calls, RES_E_FAIL)


def ticks_unknown_symbol(ctx: Context) -> Observation:
    t, s, now = ctx.terminal, UNKNOWN_SYMBOL, ctx.server_now()
    calls: list[Call] = [
        ("copy_ticks_from", lambda: t.copy_ticks_from(s, now - 60, 10, c.COPY_TICKS_ALL)),
        ("copy_ticks_range", lambda: t.copy_ticks_range(s, now - 60, now, c.COPY_TICKS_ALL)),
    ]
    return all_failed(ctx, calls, RES_E_FAIL)


def book_without_subscription(ctx: Context) -> Observation:
    t, s = ctx.terminal, ctx.symbol
    calls: list[Call] = [
        (f"market_book_get({s!r}) without market_book_add", lambda: t.market_book_get(s)),
        (f"market_book_release({s!r}) without market_book_add", lambda: t.market_book_release(s)),
    ]
    return all_failed(ctx, calls, RES_E_FAIL)


def rates_past_maxbars(ctx: Context) -> Observation:
    info = ctx.terminal.terminal_info()
    if info is None:
        return unchecked(ctx.answer("terminal_info()", info))
    maxbars = int(info.maxbars)
    t, s = ctx.terminal, ctx.symbol
    last = t.copy_rates_from_pos(s, c.TIMEFRAME_M1, maxbars - 1, 1)
    inside = ctx.answer(f"copy_rates_from_pos({s!r}, M1, maxbars - 1, 1)", last)
    past = t.copy_rates_from_pos(s, c.TIMEFRAME_M1, maxbars, 1)
    ok = ctx.failed_with(past, RES_E_FAIL)
    return judged(ok, f"maxbars {maxbars}; {inside}; " + ctx.answer("copy_rates_from_pos(..., maxbars, 1)", past))


def rates_before_history(ctx: Context) -> Observation:
    t, s = ctx.terminal, ctx.symbol
    calls: list[Call] = [
        ("copy_rates_from(..., D1, 1972-01-03, 10)", lambda: t.copy_rates_from(s, c.TIMEFRAME_D1, _LONG_AGO, 10)),
        ("copy_rates_range(..., D1, 1972-01-03, 1972-01-10)",
         lambda: t.copy_rates_range(s, c.TIMEFRAME_D1, _LONG_AGO, _LONG_AGO + 7 * 86_400)),
    ]  # fmt: skip
    return all_failed(ctx, calls, RES_E_FAIL)


def empty_ranges(ctx: Context) -> Observation:
    """A Saturday a week or more ago, on the trade server's clock: no FX bars, no ticks."""
    today = datetime.fromtimestamp(ctx.server_now(), UTC).date()
    saturday = today - timedelta(days=(today.weekday() - 5) % 7 + 7)
    start = int(datetime(saturday.year, saturday.month, saturday.day, tzinfo=UTC).timestamp())
    end = start + 86_399
    t, s = ctx.terminal, ctx.symbol
    rates = t.copy_rates_range(s, c.TIMEFRAME_H1, start, end)
    rates_error = ctx.error()
    ticks = t.copy_ticks_range(s, start, end, c.COPY_TICKS_ALL)
    ticks_error = ctx.error()
    observed = (f"Saturday {saturday}: copy_rates_range(H1) -> {_rows(rates)}, {rates_error}; "
                f"copy_ticks_range -> {_rows(ticks)}, {ticks_error}")  # fmt: skip
    if (rates is not None and len(rates)) or (ticks is not None and len(ticks)):
        return unchecked(f"{observed}: {s} trades on Saturdays; give an FX symbol (--symbol)")
    ok = rates is not None and ticks is not None and rates_error == SUCCESS and ticks_error == SUCCESS
    return judged(ok, observed)


def keyword_dates(ctx: Context) -> Observation:
    """Dates are unnamed parameters: by keyword, the SDK refuses the call (the port cannot even pass them)."""
    sdk, s, now = ctx.sdk, ctx.symbol, ctx.server_now()
    assert sdk is not None
    calls: list[Call] = [
        ("copy_rates_range(symbol, M1, date_from=..., date_to=...)",
         lambda: sdk.copy_rates_range(s, c.TIMEFRAME_M1, date_from=now - 3600, date_to=now)),
        ("history_deals_get(date_from=..., date_to=...)",
         lambda: sdk.history_deals_get(date_from=now - 86_400, date_to=now)),
    ]  # fmt: skip
    return all_failed(ctx, calls, RES_E_INVALID_PARAMS, INVALID_KEYWORD)


def argument_count(ctx: Context) -> Observation:
    sdk, s = ctx.sdk, ctx.symbol
    assert sdk is not None
    calls: list[Call] = [
        ("copy_rates_from_pos(symbol, M1, 0)", lambda: sdk.copy_rates_from_pos(s, c.TIMEFRAME_M1, 0)),
        ("copy_rates_from_pos(symbol, M1, 0, 10, 1)", lambda: sdk.copy_rates_from_pos(s, c.TIMEFRAME_M1, 0, 10, 1)),
    ]
    return all_failed(ctx, calls, RES_E_INVALID_PARAMS, INVALID_COUNT)


def argument_types(ctx: Context) -> Observation:
    t, s, now = ctx.terminal, ctx.symbol, ctx.server_now()
    return failures(ctx, [
        ("copy_rates_from_pos(symbol, 'M1', 0, 10)", lambda: t.copy_rates_from_pos(s, "M1", 0, 10),
         RES_E_INVALID_PARAMS, _invalid("timeframe")),
        ("copy_rates_from(symbol, M1, <a float>, 10)", lambda: t.copy_rates_from(s, c.TIMEFRAME_M1, now + 0.5, 10),
         RES_E_INVALID_PARAMS, _invalid("date_from")),
        ("copy_ticks_from(symbol, '<a date as text>', 10, ALL)",
         lambda: t.copy_ticks_from(s, str(now), 10, c.COPY_TICKS_ALL), RES_E_INVALID_PARAMS, _invalid("date_from")),
    ])  # fmt: skip


def argument_values(ctx: Context) -> Observation:
    t, s, now, m1 = ctx.terminal, ctx.symbol, ctx.server_now(), c.TIMEFRAME_M1
    return failures(ctx, [
        ("copy_rates_from_pos(symbol, 7, 0, 10)", lambda: t.copy_rates_from_pos(s, 7, 0, 10),
         RES_E_INVALID_PARAMS, _invalid("timeframe")),
        ("copy_rates_from_pos(symbol, M1, 0, 0)", lambda: t.copy_rates_from_pos(s, m1, 0, 0),
         RES_E_INVALID_PARAMS, _invalid("count")),
        ("copy_rates_from_pos(symbol, M1, -1, 10)", lambda: t.copy_rates_from_pos(s, m1, -1, 10),
         RES_E_INVALID_PARAMS, _invalid("start_pos")),
        ("copy_ticks_from(symbol, date, 10, 7)", lambda: t.copy_ticks_from(s, now - 60, 10, 7),
         RES_E_INVALID_PARAMS, _invalid("flags")),
    ])  # fmt: skip


def _invalid(name: str) -> str:
    return f'Invalid "{name}" argument'


def _rows(value: object) -> str:
    return "None" if value is None else f"{len(value)} rows"  # type: ignore[arg-type]
