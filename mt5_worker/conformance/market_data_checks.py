"""Checks of what the market side answers: records and arrays (fields, columns, types), the trade server's clock,
the bounds of ranges, bars against the ticks they cover, D1 bars (docs/sdk-market-data.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mt5_worker.conformance.connection_checks import record_fields
from mt5_worker.conformance.context import Context, Observation, differs, hours, judged, unchecked, utc
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.arrays import RATES_DTYPE, TICKS_DTYPE
from mt5_worker.terminal.records import SymbolInfo, Tick

_MINUTE = 60
_NOT_WHOLE = "the market may be closed (the last tick is old), or the clock is a simulator's"
_TICKS_PER_MINUTE = 100_000  # more than any symbol's minute holds: copy_ticks_from a minute's start covers it


def symbol_info_fields(ctx: Context) -> Observation:
    return record_fields(ctx, "symbol_info", SymbolInfo, lambda sdk: sdk.symbol_info(ctx.symbol))


def tick_fields(ctx: Context) -> Observation:
    return record_fields(ctx, "symbol_info_tick", Tick, lambda sdk: sdk.symbol_info_tick(ctx.symbol))


def rates_columns(ctx: Context) -> Observation:
    rates = ctx.terminal.copy_rates_from_pos(ctx.symbol, c.TIMEFRAME_M1, 0, 10)
    if rates is None:
        return differs(ctx.answer("copy_rates_from_pos(symbol, M1, 0, 10)", rates))
    times = [int(t) for t in rates["time"]]
    observed = f"copy_rates_from_pos(symbol, M1, 0, 10): columns {_columns(rates)}"
    ascending = times == sorted(times) and len(set(times)) == len(times)
    ok = _columns(rates) == _columns_of(RATES_DTYPE) and ascending
    return judged(ok, observed + ("; rows ascend in time" if ascending else "; rows are not in time order"))


def ticks_columns(ctx: Context) -> Observation:
    ticks = ctx.terminal.copy_ticks_from(ctx.symbol, ctx.server_now() - 3600, 10, c.COPY_TICKS_ALL)
    if ticks is None:
        return differs(ctx.answer("copy_ticks_from(symbol, an hour ago, 10, ALL)", ticks))
    return judged(_columns(ticks) == _columns_of(TICKS_DTYPE), f"copy_ticks_from: columns {_columns(ticks)}")


def server_clock(ctx: Context) -> Observation:
    """The last tick, the current bar and a range read around them are on one clock, the trade server's; how far
    it is from this machine's is reported, never assumed to be 0."""
    tick = ctx.tick()
    offset = float(tick.time_msc) / 1000 - ctx.clock()
    ctx.cache["clock_offset"] = offset  # for the report's header, and for tests on a pinned simulator
    whole = abs(offset - round(offset / 3600) * 3600) < 120
    note = "whole hours: the trade server's time zone" if whole else "not whole hours: " + _NOT_WHOLE
    observed = f"the last tick's time minus this machine's clock: {hours(offset)} ({note})"
    bars = ctx.terminal.copy_rates_from_pos(ctx.symbol, c.TIMEFRAME_M1, 0, 1)
    if bars is None or not len(bars):
        return differs(f"{observed}; " + ctx.answer("copy_rates_from_pos(symbol, M1, 0, 1)", bars))
    bar = int(bars[0]["time"])
    in_bar = bar <= int(tick.time) < bar + _MINUTE
    second = int(tick.time)
    ticks = ctx.terminal.copy_ticks_from(ctx.symbol, second, 1000, c.COPY_TICKS_ALL)
    found = ticks is not None and int(tick.time_msc) in {int(t) for t in ticks["time_msc"]}
    observed += (f"; the current M1 bar opens {bar - second:+d} s from the tick ({utc(bar)}), "
                 f"copy_ticks_from the tick's second {'has' if found else 'lacks'} it")  # fmt: skip
    return judged(in_bar and found, observed)


def tick_range_bounds(ctx: Context) -> Observation:
    """``copy_ticks_range(symbol, a, b)`` holds every tick of seconds ``a`` to ``b``'s start, or to its end: compared
    with what ``copy_ticks_from`` answers from ``a`` on."""
    reference = ctx.terminal.copy_ticks_from(ctx.symbol, ctx.server_now() - 600, 1000, c.COPY_TICKS_ALL)
    if reference is None or len(reference) < 3:
        return unchecked(ctx.answer("copy_ticks_from(symbol, 10 minutes ago, 1000, ALL)", reference) + ": too few")
    stamps = [int(t) for t in reference["time_msc"]]
    first = stamps[0] // 1000
    inner = [m for m in stamps[1:-1] if m % 1000 and m // 1000 > first and stamps[-1] > (m // 1000) * 1000 + 999]
    if not inner:
        return unchecked("no tick off a whole second inside the last 10 minutes' ticks: a quiet market")
    last = inner[len(inner) // 2] // 1000
    got = ctx.terminal.copy_ticks_range(ctx.symbol, first, last, c.COPY_TICKS_ALL)
    if got is None:
        return differs(ctx.answer("copy_ticks_range", got))
    received = [int(t) for t in got["time_msc"]]
    to_start = [m for m in stamps if m <= last * 1000]
    to_end = [m for m in stamps if m <= last * 1000 + 999]
    window = f"copy_ticks_range(symbol, s, s + {last - first}) where second s holds a tick: {len(received)} ticks"
    if received == to_end:
        return judged(True, f"{window}, every tick of s through the end of the last second (date_to s ends at s.999)")
    if received == to_start:
        return judged(True, f"{window}, every tick of s up to the last second's start (date_to s ends at s.000)")
    return differs(f"{window}, expected {len(to_start)} (to s.000) or {len(to_end)} (to s.999) from copy_ticks_from; "
                   f"first tick received at {_ms(received, first)}, expected at {_ms(to_end, first)}")  # fmt: skip


def rates_from_at_or_before(ctx: Context) -> Observation:
    bars = ctx.terminal.copy_rates_from_pos(ctx.symbol, c.TIMEFRAME_M5, 2, 1)
    if bars is None or not len(bars):
        return unchecked(ctx.answer("copy_rates_from_pos(symbol, M5, 2, 1)", bars))
    date = int(bars[0]["time"]) + 150  # inside that bar
    got = ctx.terminal.copy_rates_from(ctx.symbol, c.TIMEFRAME_M5, date, 3)
    if got is None or not len(got):
        return differs(ctx.answer("copy_rates_from(symbol, M5, a date inside a bar, 3)", got))
    times = [int(t) for t in got["time"]]
    ok = all(t <= date for t in times) and times[-1] == int(bars[0]["time"])
    return judged(ok, f"copy_rates_from(symbol, M5, a bar's open + 150 s, 3): bars open {[t - date for t in times]} s "
                      "from the date")  # fmt: skip


def rates_range_inclusive(ctx: Context) -> Observation:
    bars = ctx.terminal.copy_rates_from_pos(ctx.symbol, c.TIMEFRAME_M5, 2, 4)
    if bars is None or len(bars) < 4:
        return unchecked(ctx.answer("copy_rates_from_pos(symbol, M5, 2, 4)", bars))
    want = [int(t) for t in bars["time"]]
    got = ctx.terminal.copy_rates_range(ctx.symbol, c.TIMEFRAME_M5, want[0], want[-1])
    if got is None:
        return differs(ctx.answer("copy_rates_range", got))
    times = [int(t) for t in got["time"]]
    return judged(times == want, f"copy_rates_range from one bar's open to another's: {len(times)} bars, "
                                 f"{'both ends included' if times == want else f'expected {len(want)}'}")  # fmt: skip


def bars_from_ticks(ctx: Context) -> Observation:
    """The last complete M1 bars are their minute's ticks: Bid open/high/low/close, a tick count."""
    found = _minutes(ctx)
    if isinstance(found, Observation):
        return found
    wrong = []
    for bar, ticks in found:
        bids = [float(t["bid"]) for t in ticks]
        made = (bids[0], max(bids), min(bids), bids[-1], len(ticks))
        kept = (float(bar["open"]), float(bar["high"]), float(bar["low"]), float(bar["close"]), int(bar["tick_volume"]))
        if any(abs(a - b) > 1e-9 for a, b in zip(made[:4], kept[:4], strict=True)) or made[4] != kept[4]:
            wrong.append(f"{utc(int(bar['time']))}: bar {kept}, ticks {made}")
    observed = f"{len(found)} M1 bars against their ticks (open, high, low, close of Bid; tick count)"
    return judged(not wrong, observed + (": " + "; ".join(wrong) if wrong else ": each equal"))


def bar_spread_minimum(ctx: Context) -> Observation:
    found = _minutes(ctx)
    if isinstance(found, Observation):
        return found
    point, seen, ok = float(ctx.info.point), [], True
    for bar, ticks in found:
        spreads = [round((float(t["ask"]) - float(t["bid"])) / point) for t in ticks]
        kinds = {"min": min(spreads), "max": max(spreads), "first": spreads[0], "last": spreads[-1]}
        match = [k for k, v in kinds.items() if v == int(bar["spread"])]
        ok = ok and "min" in match
        seen.append(f"{int(bar['spread'])} ({'/'.join(match) or 'none of min/max/first/last'}) of {spreads}")
    return judged(ok, "M1 bars' spread against their ticks' spreads in points: " + "; ".join(seen))


def d1_bars_weekdays(ctx: Context) -> Observation:
    bars = ctx.terminal.copy_rates_from_pos(ctx.symbol, c.TIMEFRAME_D1, 0, 15)
    if bars is None or not len(bars):
        return unchecked(ctx.answer("copy_rates_from_pos(symbol, D1, 0, 15)", bars))
    opens = [datetime.fromtimestamp(int(t), UTC) for t in bars["time"]]
    days = [o.strftime("%a") for o in opens]
    midnight = all((o.hour, o.minute) == (0, 0) for o in opens)
    return judged("Sun" not in days and midnight, f"the last {len(days)} D1 bars open on {', '.join(days)}"
                                                   f"{'' if midnight else ', not all at 00:00'}")  # fmt: skip


def _minutes(ctx: Context) -> list[tuple[Any, Any]] | Observation:
    """The last three complete M1 bars with their minutes' ticks (read once per run)."""
    cached: list[tuple[Any, Any]] | None = ctx.cache.get("minutes")
    if cached is not None:
        return cached
    bars = ctx.terminal.copy_rates_from_pos(ctx.symbol, c.TIMEFRAME_M1, 1, 3)
    if bars is None or not len(bars):
        return unchecked(ctx.answer("copy_rates_from_pos(symbol, M1, 1, 3)", bars))
    found = []
    for bar in bars:
        start = int(bar["time"])
        ticks = ctx.terminal.copy_ticks_from(ctx.symbol, start, _TICKS_PER_MINUTE, c.COPY_TICKS_ALL)
        if ticks is None:
            return differs(ctx.answer("copy_ticks_from a bar's minute", ticks))
        inside = ticks[(ticks["time_msc"] >= start * 1000) & (ticks["time_msc"] < (start + _MINUTE) * 1000)]
        if len(inside):
            found.append((bar, inside))
    if not found:
        return unchecked("the last M1 bars have no ticks in the terminal's tick history")
    ctx.cache["minutes"] = found
    return found


def _columns(array: Any) -> list[tuple[str, str]]:
    return [(name, array.dtype[name].str) for name in array.dtype.names]


def _columns_of(dtype: Any) -> list[tuple[str, str]]:
    return [(name, dtype[name].str) for name in dtype.names]


def _ms(stamps: list[int], second: int) -> str:
    return f"s + {stamps[0] - second * 1000} ms" if stamps else "none"
