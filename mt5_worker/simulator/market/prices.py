"""One symbol's prices: hours, then minutes pinned by their hour, then ticks pinned by their minute, and the bars
built from them (see the package docstring for how the levels agree)."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import numpy.typing as npt

from mt5_worker.simulator.market import shape
from mt5_worker.simulator.market.calendar import HISTORY_START, Calendar
from mt5_worker.simulator.market.noise import (
    F64,
    I64,
    S_ANCHOR,
    S_BURST_AT,
    S_BURST_WHICH,
    S_CLOSE,
    S_COUNT,
    S_HIGH,
    S_HOUR_HIGH_AT,
    S_HOUR_LOW_AT,
    S_LOW,
    S_MIN_CLOSE,
    S_MIN_HIGH,
    S_MIN_LOW,
    S_MIN_PATH,
    S_MIN_SPREAD,
    S_MIN_WEIGHT,
    S_SPREAD,
    S_TICK_BURST,
    S_TICK_HIGH_AT,
    S_TICK_LOW_AT,
    S_TICK_PATH,
    S_TICK_SPREAD,
    S_TICK_TIME,
    normal,
    stable_hash,
    uniform,
)
from mt5_worker.simulator.market.pieces import (
    Hours,
    Minutes,
    Pieces,
    fill,
    hour_pieces,
    minute_pieces,
    reduce_pieces,
    tick_pieces,
)
from mt5_worker.simulator.market.symbols import SymbolSpec
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.arrays import RATES_DTYPE, TICKS_DTYPE, Records

MIN_TICKS_PER_MINUTE = 4
MIN_TICKS_PER_HOUR = 60 * MIN_TICKS_PER_MINUTE
BOOK_LEVELS = 5  # entries per side of the Depth of Market (10 in all: SymbolInfo.ticks_bookdepth)
# Hours generated at a time, so that working memory stays bounded (tens of MB) whatever the range asked for.
_HOURS_PER_CHUNK = 2000  # for bars from minutes
_TICK_HOURS_PER_CHUNK = 100  # for ticks
# Spans of at most this long are drawn a minute at a time from a small cache (the last hours and minutes asked for).
_RECENT_SPAN_MS = 3 * 60_000
_CACHED_HOURS = 4
_CACHED_MINUTES = 8


class SymbolMarket:
    """One symbol's prices on one trade server."""

    def __init__(self, spec: SymbolSpec, key: int, tick_rate: float | None = None) -> None:
        self.spec = spec
        self.key = key ^ stable_hash(spec.name)
        # Mean ticks per second while the symbol trades, in bursts; None: the symbol's own quieter rate, evenly spread.
        self.tick_rate = tick_rate
        self.calendar = Calendar(spec.always_open)
        # The last few hours' minutes and minutes' ticks asked for: "now" is asked for again and again (a feed's
        # polls, last ticks, marking positions to market), and drawing an hour or a minute costs milliseconds.
        self._hours: OrderedDict[int, Minutes] = OrderedDict()
        self._minutes: OrderedDict[tuple[int, int], Records] = OrderedDict()

    # --- hours ---

    def anchor(self, hours: npt.ArrayLike) -> F64:
        """The smooth price curve hours open on (before rounding)."""
        h = np.asarray(hours, dtype=np.int64)
        log_price = np.zeros(h.shape)
        for k, scale in enumerate(shape.OCTAVES):
            cell = h // scale
            frac = (h - cell * scale) / scale
            g0 = normal(self.key, S_ANCHOR + 10 * k, cell)
            g1 = normal(self.key, S_ANCHOR + 10 * k, cell + 1)
            log_price += shape.OCTAVE_WEIGHT * self.spec.hourly_vol * math.sqrt(scale) * (g0 + (g1 - g0) * frac)
        result: F64 = self.spec.price * np.exp(log_price)
        return result

    def hours(self, hours: npt.ArrayLike) -> Hours:
        spec, key, d = self.spec, self.key, self.spec.digits
        h = np.asarray(hours, dtype=np.int64)
        o = np.round(self.anchor(h), d)
        sig = spec.hourly_vol * o
        close = np.round(self.anchor(h + 1) + 0.15 * sig * normal(key, S_CLOSE, h), d)
        top, bottom = np.maximum(o, close), np.minimum(o, close)
        high = np.maximum(np.round(top + 0.6 * sig * np.abs(normal(key, S_HIGH, h)), d), top)
        low = np.minimum(np.round(bottom - 0.6 * sig * np.abs(normal(key, S_LOW, h)), d), bottom)
        low = np.maximum(low, spec.point)
        hour_of_day = h % 24
        if self.tick_rate is None:
            extra = uniform(key, S_COUNT, h) * spec.ticks_per_hour * shape.ACTIVITY[hour_of_day]
        else:  # a mean of tick_rate per second over the day's hours, busier in busy hours
            per_hour = (0.5 + uniform(key, S_COUNT, h)) * self.tick_rate * 3600
            extra = per_hour * shape.ACTIVITY[hour_of_day] / shape.ACTIVITY.mean()
        count = np.maximum(MIN_TICKS_PER_HOUR, np.floor(extra).astype(np.int64) + (
            MIN_TICKS_PER_HOUR if self.tick_rate is None else 0))  # fmt: skip
        spread = np.maximum(
            1, np.round(spec.spread * (0.8 + 0.5 * uniform(key, S_SPREAD, h)) * shape.WIDEN[hour_of_day])
        ).astype(np.int64)
        high_at = np.floor(uniform(key, S_HOUR_HIGH_AT, h) * 60).astype(np.int64)
        low_at = np.floor(uniform(key, S_HOUR_LOW_AT, h) * 60).astype(np.int64)
        return Hours(h, o, high, low, close, count, spread, high_at, low_at)

    # --- minutes ---

    def minutes(self, hs: Hours) -> Minutes:
        spec, key, d = self.spec, self.key, self.spec.digits
        h = hs.hour[:, None]
        n = len(hs.hour)
        rows = np.arange(n)
        k = np.arange(61)
        sig = (spec.hourly_vol * hs.open / math.sqrt(60))[:, None]
        lo, hi = hs.low[:, None], hs.high[:, None]
        steps = normal(key, S_MIN_PATH, h, k[None, 1:]) * sig
        walk = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
        frac = k / 60.0
        path = hs.open[:, None] + (hs.close - hs.open)[:, None] * frac + walk - walk[:, -1:] * frac
        path = np.clip(np.round(path, d), lo, hi)
        path[:, 0], path[:, 60] = hs.open, hs.close
        m_open = path[:, :60]
        m_close = np.clip(np.round(path[:, 1:] + 0.1 * sig * normal(key, S_MIN_CLOSE, h, k[None, :60]), d), lo, hi)
        m_close[:, 59] = hs.close
        top, bottom = np.maximum(m_open, m_close), np.minimum(m_open, m_close)
        ext_high = 0.5 * sig * np.abs(normal(key, S_MIN_HIGH, h, k[None, :60]))
        ext_low = 0.5 * sig * np.abs(normal(key, S_MIN_LOW, h, k[None, :60]))
        m_high = np.maximum(np.minimum(np.round(top + ext_high, d), hi), top)
        m_low = np.minimum(np.maximum(np.round(bottom - ext_low, d), lo), bottom)
        m_high[rows, hs.high_at] = hs.high
        m_low[rows, hs.low_at] = hs.low
        # Tick counts: at least MIN_TICKS_PER_MINUTE each, the rest shared by hashed weights, summing to the hour's.
        if self.tick_rate is None:
            weights = np.cumsum(0.5 + uniform(key, S_MIN_WEIGHT, h, k[None, :60]), axis=1)
        else:
            weights = np.cumsum(np.exp(shape.MINUTE_SHARE_SIGMA * normal(key, S_MIN_WEIGHT, h, k[None, :60])), axis=1)
        extra = (hs.count - MIN_TICKS_PER_HOUR)[:, None]
        shares = np.floor(extra * weights / weights[:, -1:]).astype(np.int64)
        shares[:, -1] = extra[:, 0]
        count = MIN_TICKS_PER_MINUTE + np.diff(shares, axis=1, prepend=0)
        spread = hs.spread[:, None] + np.floor(3 * uniform(key, S_MIN_SPREAD, h, k[None, :60])).astype(np.int64)
        spread[rows, hs.high_at] = hs.spread
        return Minutes(hs, m_open, m_high, m_low, m_close, count, spread)

    # --- ticks ---

    def ticks(self, ms: Minutes, rows: I64, mins: I64) -> Records:
        """The ticks of the selected minutes (``ms`` row and minute-of-hour pairs), in time order."""
        spec, key, d = self.spec, self.key, self.spec.digits
        count = ms.count[rows, mins]
        total = int(count.sum())
        out = np.zeros(total, dtype=TICKS_DTYPE)
        if total == 0:
            return out
        first = np.concatenate([[0], np.cumsum(count)[:-1]])
        owner = np.repeat(np.arange(len(rows)), count)
        j = np.arange(total) - first[owner]
        minute = ms.hours.hour[rows] * 60 + mins  # minutes since the epoch
        t_minute = minute[owner]
        n = count[owner]
        time_msc = t_minute * 60_000 + self._tick_offsets(t_minute, j, n, owner)
        # Pins: open at 0, close at n-1, high and low at two distinct drawn positions in between.
        high_at = 1 + np.floor(uniform(key, S_TICK_HIGH_AT, minute) * (count - 2)).astype(np.int64)
        low_at = 1 + np.floor(uniform(key, S_TICK_LOW_AT, minute) * (count - 3)).astype(np.int64)
        low_at = low_at + (low_at >= high_at)
        m_open, m_close = ms.open[rows, mins], ms.close[rows, mins]
        m_high, m_low = ms.high[rows, mins], ms.low[rows, mins]
        pin_a, pin_b = np.minimum(high_at, low_at), np.maximum(high_at, low_at)
        val_a = np.where(high_at < low_at, m_high, m_low)
        val_b = np.where(high_at < low_at, m_low, m_high)
        segment = (j > pin_a[owner]).astype(np.int64) + (j > pin_b[owner])
        starts = np.stack([np.zeros_like(pin_a), pin_a, pin_b])[:, owner]
        ends = np.stack([pin_a, pin_b, count - 1])[:, owner]
        start_values = np.stack([m_open, val_a, val_b])[:, owner]
        end_values = np.stack([val_a, val_b, m_close])[:, owner]
        pick = (segment, np.arange(total))
        a, b, va, vb = starts[pick], ends[pick], start_values[pick], end_values[pick]
        sig = spec.hourly_vol * m_open[owner] / math.sqrt(60) / np.sqrt(n) * 0.8
        walk = np.cumsum(normal(key, S_TICK_PATH, t_minute, j) * sig)
        base = first[owner]
        walk_a, walk_b = walk[base + a], walk[base + b]
        frac = (j - a) / (b - a)
        bid = va + (vb - va) * frac + (walk - walk_a) - (walk_b - walk_a) * frac
        bid = np.clip(np.round(bid, d), m_low[owner], m_high[owner])
        spread = ms.spread[rows, mins][owner] + np.floor(3 * uniform(key, S_TICK_SPREAD, t_minute, j)).astype(np.int64)
        at_high = j == high_at[owner]
        spread[at_high] = ms.spread[rows, mins][owner][at_high]
        ask = np.round(bid + spread * spec.point, d)
        new_minute = j == 0
        bid_changed = new_minute | (bid != np.roll(bid, 1))
        ask_changed = new_minute | (ask != np.roll(ask, 1))
        flags = np.where(bid_changed, c.TICK_FLAG_BID, 0) | np.where(ask_changed, c.TICK_FLAG_ASK, 0)
        flags[flags == 0] = c.TICK_FLAG_BID | c.TICK_FLAG_ASK  # the simulator never emits a tick that changes nothing
        out["time"] = time_msc // 1000
        out["bid"] = bid
        out["ask"] = ask
        out["time_msc"] = time_msc
        out["flags"] = flags
        return out

    def _tick_offsets(self, t_minute: I64, j: I64, n: I64, owner: I64) -> I64:
        """Each tick's millisecond in its minute: the first on the minute's first millisecond, the others one per
        equal slot, jittered; with a tick rate, half of them in bursts instead (sorted, so in tick order)."""
        key = self.key
        u = uniform(key, S_TICK_TIME, t_minute, j)
        if self.tick_rate is None:
            return np.where(j == 0, 0, np.floor((j + u) * (60_000.0 / n))).astype(np.int64)
        which = np.floor(uniform(key, S_BURST_WHICH, t_minute, j) * shape.BURSTS_PER_MINUTE).astype(np.int64)
        centre = uniform(key, S_BURST_AT, t_minute, which) * 60_000.0
        in_burst = uniform(key, S_TICK_BURST, t_minute, j) < shape.BURST_SHARE
        offset = np.where(in_burst, centre + (u - 0.5) * shape.BURST_WIDTH_MS, u * 60_000.0)
        offset = np.clip(np.floor(offset), 1, 59_999).astype(np.int64)
        offset[j == 0] = 0
        order = np.lexsort((offset, owner))  # within each minute, by time: tick j takes the j-th earliest
        result: I64 = offset[order]
        return result

    def ticks_between(self, start_ms: int, end_ms: int, now_ms: int) -> Records:
        """Ticks with ``start_ms <= time_msc <= min(end_ms, now_ms)``, from history start on."""
        end_ms = min(end_ms, now_ms)
        start_ms = max(start_ms, HISTORY_START * 1000)
        if end_ms < start_ms:
            return np.zeros(0, dtype=TICKS_DTYPE)
        if end_ms - start_ms <= _RECENT_SPAN_MS:
            return self._recent_ticks(start_ms, end_ms)
        hours = self.calendar.hours_between(start_ms // 3_600_000 * 3600, end_ms // 1000 + 1)
        minute_lo, minute_hi = start_ms // 60_000, end_ms // 60_000
        parts = [np.zeros(0, dtype=TICKS_DTYPE)]
        for chunk in np.array_split(hours, max(1, -(-len(hours) // _TICK_HOURS_PER_CHUNK))):  # bounded memory
            if not len(chunk):
                continue
            ms = self.minutes(self.hours(chunk))
            grid = chunk[:, None] * 60 + np.arange(60)[None, :]
            rows, mins = np.nonzero((grid >= minute_lo) & (grid <= minute_hi))
            ticks = self.ticks(ms, rows.astype(np.int64), mins.astype(np.int64))
            parts.append(ticks[(ticks["time_msc"] >= start_ms) & (ticks["time_msc"] <= end_ms)])
        return np.concatenate(parts)

    def ticks_from(self, start_ms: int, count: int, now_ms: int) -> Records:
        """The first ``count`` ticks with ``time_msc >= start_ms`` (and at or before now)."""
        start_ms = max(start_ms, HISTORY_START * 1000)
        if now_ms - start_ms <= _RECENT_SPAN_MS:  # a poll from just before now: everything since, cut to count
            return self.ticks_between(start_ms, now_ms, now_ms)[:count]
        per_hour = MIN_TICKS_PER_HOUR + (
            self.spec.ticks_per_hour // 2 if self.tick_rate is None else int(self.tick_rate * 3600)
        )  # a first guess of how far to look
        parts: list[Records] = []
        got = 0
        cursor = start_ms
        hours_step = max(1, math.ceil(count / per_hour)) + 1
        while got < count and cursor <= now_ms:
            end = min(now_ms, cursor + hours_step * 3_600_000 - 1)
            chunk = self.ticks_between(cursor, end, now_ms)
            parts.append(chunk[: count - got])
            got += len(parts[-1])
            cursor = end + 1
            hours_step *= 2
        return np.concatenate(parts) if parts else np.zeros(0, dtype=TICKS_DTYPE)

    def first_tick(self, start_ms: int, now_ms: int) -> Records | None:
        """The first tick at or after ``start_ms`` (and at or before now): ``ticks_from(start_ms, 1, now_ms)``
        drawn a minute at a time."""
        start_ms = max(start_ms, HISTORY_START * 1000)
        index = int(self.calendar.before(start_ms // 3_600_000))  # the first trading hour at or after start
        while True:
            hour = int(self.calendar.hour_at(index))
            if hour * 3_600_000 > now_ms:
                return None
            first_minute = max(0, (start_ms // 60_000) - hour * 60)
            for minute in range(first_minute, 60):
                ticks = self.minute_ticks(hour, minute)
                found = ticks[(ticks["time_msc"] >= start_ms) & (ticks["time_msc"] <= now_ms)]
                if len(found):
                    return found[:1]
                if (hour * 60 + minute + 1) * 60_000 > now_ms:
                    return None
            index += 1

    def hour_minutes(self, hour: int) -> Minutes:
        """The minutes of one trading hour (hours since the epoch), drawn once while it is among the last asked."""
        found = self._hours.get(hour)
        if found is None:
            found = self._hours[hour] = self.minutes(self.hours(np.array([hour])))
            if len(self._hours) > _CACHED_HOURS:
                self._hours.popitem(last=False)
        else:
            self._hours.move_to_end(hour)
        return found

    def minute_ticks(self, hour: int, minute: int) -> Records:
        """The ticks of one minute of a trading hour (hours since the epoch, minute of the hour)."""
        key = (hour, minute)
        found = self._minutes.get(key)
        if found is None:
            found = self._minutes[key] = self.ticks(self.hour_minutes(hour), np.array([0]), np.array([minute]))
            if len(self._minutes) > _CACHED_MINUTES:
                self._minutes.popitem(last=False)
        else:
            self._minutes.move_to_end(key)
        return found

    def _recent_ticks(self, start_ms: int, end_ms: int) -> Records:
        """``ticks_between`` for a span of a few minutes, a minute at a time from the cache."""
        parts = [np.zeros(0, dtype=TICKS_DTYPE)]
        for minute in range(start_ms // 60_000, end_ms // 60_000 + 1):
            hour = minute // 60
            if hour * 3600 < HISTORY_START or not bool(self.calendar.is_open(hour)):
                continue
            ticks = self.minute_ticks(hour, minute % 60)
            times = ticks["time_msc"]
            lo, hi = int(np.searchsorted(times, start_ms, side="left")), int(np.searchsorted(times, end_ms, "right"))
            parts.append(ticks[lo:hi])
        return np.concatenate(parts)

    # --- bars ---

    def pieces_until(self, start_s: int, now_ms: int) -> Pieces:
        """Hour, minute and tick rows covering ``[start_s, now]``: the current bar so far, from ``start_s``."""
        now_s = now_ms // 1000
        now_hour, now_minute = now_s // 3600, now_s // 60
        parts = []
        whole_hours = self.calendar.hours_between(max(start_s, HISTORY_START), now_hour * 3600)
        if len(whole_hours):
            parts.append(hour_pieces(self.hours(whole_hours)))
        if bool(self.calendar.is_open(now_hour)) and now_hour * 3600 >= HISTORY_START:
            ms = self.minutes(self.hours(np.array([now_hour])))
            first = max(0, (max(start_s, now_hour * 3600) - now_hour * 3600) // 60)
            mins = np.arange(first, now_minute % 60, dtype=np.int64)
            parts.append(minute_pieces(ms, np.zeros(len(mins), dtype=np.int64), mins))
            ticks = self.ticks(ms, np.array([0]), np.array([now_minute % 60]))
            ticks = ticks[ticks["time_msc"] <= now_ms]
            if len(ticks):
                parts.append(tick_pieces(ticks, self.spec.point))
        return Pieces.concat(parts) if parts else Pieces.empty()

    def rates(self, timeframe: int, starts: I64, ends: I64, now_ms: int) -> Records:
        """Bars opening at ``starts`` (existing bars, ascending; ``ends`` are their period ends)."""
        out = np.zeros(len(starts), dtype=RATES_DTYPE)
        if not len(starts):
            return out
        seconds = c.timeframe_seconds(timeframe)
        if seconds is not None and seconds < 3600:
            per = seconds // 60
            hours = np.unique(starts // 3600)
            for chunk in np.array_split(hours, max(1, -(-len(hours) // _HOURS_PER_CHUNK))):  # bounded memory
                if not len(chunk):
                    continue
                ms = self.minutes(self.hours(chunk))
                shape = (len(chunk), 60 // per, per)
                mine = np.flatnonzero((starts >= chunk[0] * 3600) & (starts < (chunk[-1] + 1) * 3600))
                row = np.searchsorted(chunk, starts[mine] // 3600)
                sub = (starts[mine] % 3600) // seconds
                out["open"][mine] = ms.open.reshape(shape)[:, :, 0][row, sub]
                out["close"][mine] = ms.close.reshape(shape)[:, :, -1][row, sub]
                out["high"][mine] = ms.high.reshape(shape).max(axis=2)[row, sub]
                out["low"][mine] = ms.low.reshape(shape).min(axis=2)[row, sub]
                out["tick_volume"][mine] = ms.count.reshape(shape).sum(axis=2)[row, sub]
                out["spread"][mine] = ms.spread.reshape(shape).min(axis=2)[row, sub]
        elif timeframe == c.TIMEFRAME_H1:
            hs = self.hours(starts // 3600)
            fill(out, hour_pieces(hs))
        else:
            first = self.calendar.before(-(-np.maximum(starts, HISTORY_START) // 3600))
            last = self.calendar.before(-(-ends // 3600))
            counts = np.maximum(last - first, 0)
            index = np.repeat(first - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
            hs = self.hours(self.calendar.hour_at(index))
            bounds = np.concatenate([[0], np.cumsum(counts)[:-1]])
            fill(out, reduce_pieces(hour_pieces(hs), bounds))
        out["time"] = starts
        now_s = now_ms // 1000
        current = np.flatnonzero((starts <= now_s) & (now_s < ends))
        if len(current):
            i = int(current[0])
            pieces = self.pieces_until(int(starts[i]), now_ms)
            if len(pieces.time):
                fill(out[i : i + 1], reduce_pieces(pieces, np.array([0])))
        return out
