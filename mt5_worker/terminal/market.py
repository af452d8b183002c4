"""A deterministic simulated market: symbols, ticks, bars and a Depth of Market, as pure functions of time.

Nothing is stored. Every price is a pure function of ``(seed, symbol, time)``, so any range of ticks or bars can
be produced on demand, in any order, and is the same every time it is asked for. Three levels, each pinned by the
one above it so that they always agree:

- **hours**: each trading hour has an open (a smooth "anchor" curve of hashed value noise at several scales,
  which behaves like a random walk up to months and stays bounded beyond), a close near the next hour's anchor,
  and a high and a low drawn around them; its tick count and minimum spread are drawn too. H1 and longer bars
  aggregate hours, so ten years of D1 bars need no ticks at all.
- **minutes**: a Brownian bridge from the hour's open to its close, at minute resolution, clipped to the hour's
  range; each minute has an open, a close, a high and a low (the minutes named by the hour hold its high and
  low), a tick count (at least 4, summing to the hour's) and a minimum spread (the hour's, in one of them).
- **ticks**: within a minute, a Brownian bridge through the minute's open (the first tick, exactly at the minute's
  first millisecond), its high and low (at drawn positions) and its close (the last tick), clipped to that range.
  Ask = Bid + spread; the minute's minimum spread is at the tick that holds its high.

So an M1 bar's OHLC, tick volume and spread are exactly those of its ticks, and every longer bar's are those of
its minutes. Ticks exist only at or before "now" (the caller's clock): the current bar is built from the ticks so
far. Bars are Bid bars (``chart_mode`` 0); the bar ``spread`` is the smallest spread of its ticks.

**Time.** Every time here is epoch seconds (or milliseconds) in the trade server's time zone, which for the
simulated servers is UTC: server time == UTC. Sessions: Sunday 22:00 to Friday 22:00 for FX, metals and the index,
every hour for crypto; no holidays. History starts on 2015-01-01 00:00.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import RATES_DTYPE, TICKS_DTYPE, BookInfo, Records, SymbolInfo, Tick

HISTORY_START = 1_420_070_400  # 2015-01-01 00:00:00 server time
MIN_TICKS_PER_MINUTE = 4
MIN_TICKS_PER_HOUR = 60 * MIN_TICKS_PER_MINUTE
BOOK_LEVELS = 5  # entries per side of the Depth of Market (10 in all: SymbolInfo.ticks_bookdepth)
# Hours generated at a time, so that working memory stays bounded (tens of MB) whatever the range asked for.
_HOURS_PER_CHUNK = 2000  # for bars from minutes
_TICK_HOURS_PER_CHUNK = 100  # for ticks

_SUNDAY_HOUR = 72  # 1970-01-04 00:00, the first Sunday of the epoch, in hours
_WEEK_HOURS = 168
_FX_SESSION = (22, 22 + 120)  # hours of the week from Sunday 00:00: Sunday 22:00 to Friday 22:00

# Relative activity by hour of day (ticks), and the spread widening around the daily rollover.
_ACTIVITY = np.array(
    [
        *(0.5, 0.45, 0.45, 0.5, 0.55, 0.6, 0.7, 0.9, 1.2, 1.3, 1.25, 1.2),  # 00:00 to 11:00
        *(1.25, 1.5, 1.6, 1.55, 1.4, 1.2, 1.0, 0.85, 0.7, 0.5, 0.4, 0.45),  # 12:00 to 23:00
    ]
)
_WIDEN = np.ones(24)
_WIDEN[21], _WIDEN[22], _WIDEN[23] = 2.5, 1.8, 1.2

# The anchor's scales in hours (value noise octaves) and the weight of each.
_OCTAVES = tuple(3**k for k in range(9))  # 1 h .. 6561 h (~9 months)
_OCTAVE_WEIGHT = 0.5

# Hash streams: one per independent quantity, so that no two draw the same numbers.
(
    _S_ANCHOR,
    _S_CLOSE,
    _S_HIGH,
    _S_LOW,
    _S_COUNT,
    _S_SPREAD,
    _S_HOUR_HIGH_AT,
    _S_HOUR_LOW_AT,
    _S_MIN_PATH,
    _S_MIN_CLOSE,
    _S_MIN_HIGH,
    _S_MIN_LOW,
    _S_MIN_WEIGHT,
    _S_MIN_SPREAD,
    _S_TICK_TIME,
    _S_TICK_HIGH_AT,
    _S_TICK_LOW_AT,
    _S_TICK_PATH,
    _S_TICK_SPREAD,
    _S_BOOK,
) = range(100, 120)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SymbolSpec:
    """A simulated symbol's contract and the parameters of its price process."""

    name: str
    description: str
    path: str
    digits: int
    price: float  # the level prices wander around
    hourly_vol: float  # relative standard deviation of a one-hour move
    spread: int  # typical spread in points
    contract_size: float
    volume_min: float
    volume_max: float
    volume_step: float
    currency_base: str
    currency_profit: str
    currency_margin: str
    calc_mode: int
    filling_mode: int  # SYMBOL_FILLING_* bits
    exemode: int = c.SYMBOL_TRADE_EXECUTION_MARKET
    trade_mode: int = c.SYMBOL_TRADE_MODE_FULL
    always_open: bool = False  # crypto trades every hour of the week
    selected: bool = True  # in Market Watch when the terminal starts
    ticks_per_hour: int = 900  # mean extra ticks per hour on top of the minimum, before the activity curve
    swap_long: float = 0.0
    swap_short: float = 0.0
    stops_level: int = 0

    @property
    def point(self) -> float:
        return round(10.0**-self.digits, self.digits)


SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("EURUSD", "Euro vs US Dollar", "Forex\\EURUSD", 5, 1.0850, 0.0011, 12, 100_000.0, 0.01, 500.0, 0.01,
               "EUR", "USD", "EUR", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK,
               exemode=c.SYMBOL_TRADE_EXECUTION_INSTANT, swap_long=-7.2, swap_short=2.1),
    SymbolSpec("GBPUSD", "Great Britain Pound vs US Dollar", "Forex\\GBPUSD", 5, 1.2700, 0.0013, 15, 100_000.0, 0.01,
               500.0, 0.01, "GBP", "USD", "GBP", c.SYMBOL_CALC_MODE_FOREX,
               c.SYMBOL_FILLING_FOK | c.SYMBOL_FILLING_IOC, swap_long=-3.4, swap_short=-1.9),
    SymbolSpec("USDJPY", "US Dollar vs Japanese Yen", "Forex\\USDJPY", 3, 150.00, 0.0012, 14, 100_000.0, 0.01, 500.0,
               0.01, "USD", "JPY", "USD", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_IOC,
               swap_long=11.3, swap_short=-24.6),
    SymbolSpec("USDCHF", "US Dollar vs Swiss Franc", "Forex\\USDCHF", 5, 0.8800, 0.0011, 16, 100_000.0, 0.01, 500.0,
               0.01, "USD", "CHF", "USD", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK, selected=False),
    SymbolSpec("AUDUSD", "Australian Dollar vs US Dollar", "Forex\\AUDUSD", 5, 0.6600, 0.0014, 14, 100_000.0, 0.01,
               500.0, 0.01, "AUD", "USD", "AUD", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK, selected=False),
    SymbolSpec("EURGBP", "Euro vs Great Britain Pound", "Forex\\EURGBP", 5, 0.8550, 0.0008, 18, 100_000.0, 0.01,
               500.0, 0.01, "EUR", "GBP", "EUR", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK, selected=False),
    SymbolSpec("XAUUSD", "Gold vs US Dollar", "Metals\\XAUUSD", 2, 2350.00, 0.0022, 30, 100.0, 0.01, 100.0, 0.01,
               "XAU", "USD", "USD", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK | c.SYMBOL_FILLING_IOC,
               swap_long=-45.1, swap_short=22.8, stops_level=10),
    SymbolSpec("US500", "US 500 Cash Index", "Indices\\US500", 2, 5200.00, 0.0018, 50, 1.0, 0.1, 100.0, 0.1,
               "USD", "USD", "USD", c.SYMBOL_CALC_MODE_CFDLEVERAGE, c.SYMBOL_FILLING_IOC, ticks_per_hour=1200),
    SymbolSpec("BTCUSD", "Bitcoin vs US Dollar", "Crypto\\BTCUSD", 2, 65_000.00, 0.0065, 2500, 1.0, 0.01, 10.0, 0.01,
               "BTC", "USD", "USD", c.SYMBOL_CALC_MODE_CFD, c.SYMBOL_FILLING_FOK | c.SYMBOL_FILLING_IOC,
               always_open=True, ticks_per_hour=600),
)  # fmt: skip


# --- hashing: counter-based random numbers -----------------------------------------------------------------


def stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (``hash()`` of a str is not)."""
    return zlib.crc32(text.encode("utf-8")) | (zlib.adler32(text.encode("utf-8")) << 32)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser: a bijection of 64-bit integers that scatters every input bit."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _hash(key: int, stream: int, *parts: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    arrays = np.broadcast_arrays(*(np.asarray(p, dtype=np.int64) for p in parts))
    start = (key ^ (stream * 0x9E3779B97F4A7C15)) & 0xFFFFFFFFFFFFFFFF
    with np.errstate(over="ignore"):
        h = _mix(np.full(arrays[0].shape, start, dtype=np.uint64))
        for a in arrays:
            h = _mix(h ^ np.ascontiguousarray(a).view(np.uint64))
    return h


def _uniform(key: int, stream: int, *parts: npt.ArrayLike) -> F64:
    """Uniform in [0, 1)."""
    return (_hash(key, stream, *parts) >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _normal(key: int, stream: int, *parts: npt.ArrayLike) -> F64:
    """Standard normal (Box-Muller on two hashed uniforms)."""
    u1 = _uniform(key, stream, *parts)
    u2 = _uniform(key, stream + 1000, *parts)
    result: F64 = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
    return result


# --- the trading calendar --------------------------------------------------------------------------------------


class Calendar:
    """Which hours trade, counted in closed form: ``before(h)`` trading hours precede hour ``h`` (hours since
    the epoch), and ``hour_at(i)`` is the ``i``-th trading hour (both relative to an arbitrary but fixed origin)."""

    def __init__(self, always_open: bool) -> None:
        mask = np.ones(_WEEK_HOURS, dtype=bool)
        if not always_open:
            mask[:] = False
            mask[_FX_SESSION[0] : _FX_SESSION[1]] = True
        self.mask = mask
        self.cum = np.concatenate([[0], np.cumsum(mask)]).astype(np.int64)
        self.open_hours = np.flatnonzero(mask).astype(np.int64)
        self.per_week = int(mask.sum())

    def before(self, hours: npt.ArrayLike) -> I64:
        week, rest = np.divmod(np.asarray(hours, dtype=np.int64) - _SUNDAY_HOUR, _WEEK_HOURS)
        result: I64 = week * self.per_week + self.cum[rest]
        return result

    def hour_at(self, index: npt.ArrayLike) -> I64:
        week, rest = np.divmod(np.asarray(index, dtype=np.int64), self.per_week)
        result: I64 = _SUNDAY_HOUR + week * _WEEK_HOURS + self.open_hours[rest]
        return result

    def is_open(self, hours: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        result: npt.NDArray[np.bool_] = self.mask[(np.asarray(hours, dtype=np.int64) - _SUNDAY_HOUR) % _WEEK_HOURS]
        return result

    def hours_between(self, start_s: int, end_s: int) -> I64:
        """Trading hours whose start lies in ``[start_s, end_s)`` (seconds)."""
        first = self.before(-(-start_s // 3600))
        last = self.before(-(-end_s // 3600))
        return self.hour_at(np.arange(int(first), int(last), dtype=np.int64))


# --- the three levels ----------------------------------------------------------------------------------------


@dataclass
class Hours:
    """Per trading hour: OHLC, tick count, minimum spread, and the minutes that hold the high and the low."""

    hour: I64
    open: F64
    high: F64
    low: F64
    close: F64
    count: I64
    spread: I64
    high_at: I64
    low_at: I64


@dataclass
class Minutes:
    """Per minute of some trading hours: arrays of shape (hours, 60)."""

    hours: Hours
    open: F64
    high: F64
    low: F64
    close: F64
    count: I64
    spread: I64


@dataclass
class Pieces:
    """OHLC rows in time order, to be aggregated into bars."""

    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    count: I64
    spread: I64

    @staticmethod
    def empty() -> Pieces:
        f, i = np.empty(0, np.float64), np.empty(0, np.int64)
        return Pieces(i, f, f, f, f, i, i)

    @staticmethod
    def concat(parts: Sequence[Pieces]) -> Pieces:
        return Pieces(*(np.concatenate([getattr(p, name) for p in parts]) for name in _PIECE_FIELDS))


_PIECE_FIELDS = ("time", "open", "high", "low", "close", "count", "spread")


class SymbolMarket:
    """One symbol's prices on one trade server."""

    def __init__(self, spec: SymbolSpec, key: int) -> None:
        self.spec = spec
        self.key = key ^ stable_hash(spec.name)
        self.calendar = Calendar(spec.always_open)

    # --- hours ---

    def anchor(self, hours: npt.ArrayLike) -> F64:
        """The smooth price curve hours open on (before rounding)."""
        h = np.asarray(hours, dtype=np.int64)
        log_price = np.zeros(h.shape)
        for k, scale in enumerate(_OCTAVES):
            cell = h // scale
            frac = (h - cell * scale) / scale
            g0 = _normal(self.key, _S_ANCHOR + 10 * k, cell)
            g1 = _normal(self.key, _S_ANCHOR + 10 * k, cell + 1)
            log_price += _OCTAVE_WEIGHT * self.spec.hourly_vol * math.sqrt(scale) * (g0 + (g1 - g0) * frac)
        result: F64 = self.spec.price * np.exp(log_price)
        return result

    def hours(self, hours: npt.ArrayLike) -> Hours:
        spec, key, d = self.spec, self.key, self.spec.digits
        h = np.asarray(hours, dtype=np.int64)
        o = np.round(self.anchor(h), d)
        sig = spec.hourly_vol * o
        close = np.round(self.anchor(h + 1) + 0.15 * sig * _normal(key, _S_CLOSE, h), d)
        top, bottom = np.maximum(o, close), np.minimum(o, close)
        high = np.maximum(np.round(top + 0.6 * sig * np.abs(_normal(key, _S_HIGH, h)), d), top)
        low = np.minimum(np.round(bottom - 0.6 * sig * np.abs(_normal(key, _S_LOW, h)), d), bottom)
        low = np.maximum(low, spec.point)
        hour_of_day = h % 24
        count = MIN_TICKS_PER_HOUR + np.floor(
            _uniform(key, _S_COUNT, h) * spec.ticks_per_hour * _ACTIVITY[hour_of_day]
        ).astype(np.int64)
        spread = np.maximum(
            1, np.round(spec.spread * (0.8 + 0.5 * _uniform(key, _S_SPREAD, h)) * _WIDEN[hour_of_day])
        ).astype(np.int64)
        high_at = np.floor(_uniform(key, _S_HOUR_HIGH_AT, h) * 60).astype(np.int64)
        low_at = np.floor(_uniform(key, _S_HOUR_LOW_AT, h) * 60).astype(np.int64)
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
        steps = _normal(key, _S_MIN_PATH, h, k[None, 1:]) * sig
        walk = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
        frac = k / 60.0
        path = hs.open[:, None] + (hs.close - hs.open)[:, None] * frac + walk - walk[:, -1:] * frac
        path = np.clip(np.round(path, d), lo, hi)
        path[:, 0], path[:, 60] = hs.open, hs.close
        m_open = path[:, :60]
        m_close = np.clip(np.round(path[:, 1:] + 0.1 * sig * _normal(key, _S_MIN_CLOSE, h, k[None, :60]), d), lo, hi)
        m_close[:, 59] = hs.close
        top, bottom = np.maximum(m_open, m_close), np.minimum(m_open, m_close)
        ext_high = 0.5 * sig * np.abs(_normal(key, _S_MIN_HIGH, h, k[None, :60]))
        ext_low = 0.5 * sig * np.abs(_normal(key, _S_MIN_LOW, h, k[None, :60]))
        m_high = np.maximum(np.minimum(np.round(top + ext_high, d), hi), top)
        m_low = np.minimum(np.maximum(np.round(bottom - ext_low, d), lo), bottom)
        m_high[rows, hs.high_at] = hs.high
        m_low[rows, hs.low_at] = hs.low
        # Tick counts: at least MIN_TICKS_PER_MINUTE each, the rest shared by hashed weights, summing to the hour's.
        weights = np.cumsum(0.5 + _uniform(key, _S_MIN_WEIGHT, h, k[None, :60]), axis=1)
        extra = (hs.count - MIN_TICKS_PER_HOUR)[:, None]
        shares = np.floor(extra * weights / weights[:, -1:]).astype(np.int64)
        shares[:, -1] = extra[:, 0]
        count = MIN_TICKS_PER_MINUTE + np.diff(shares, axis=1, prepend=0)
        spread = hs.spread[:, None] + np.floor(3 * _uniform(key, _S_MIN_SPREAD, h, k[None, :60])).astype(np.int64)
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
        # Times: the first tick on the minute's first millisecond, then one per equal slot, jittered.
        slot = 60_000.0 / n
        offset = np.where(j == 0, 0, np.floor((j + _uniform(key, _S_TICK_TIME, t_minute, j)) * slot)).astype(np.int64)
        time_msc = t_minute * 60_000 + offset
        # Pins: open at 0, close at n-1, high and low at two distinct drawn positions in between.
        high_at = 1 + np.floor(_uniform(key, _S_TICK_HIGH_AT, minute) * (count - 2)).astype(np.int64)
        low_at = 1 + np.floor(_uniform(key, _S_TICK_LOW_AT, minute) * (count - 3)).astype(np.int64)
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
        walk = np.cumsum(_normal(key, _S_TICK_PATH, t_minute, j) * sig)
        base = first[owner]
        walk_a, walk_b = walk[base + a], walk[base + b]
        frac = (j - a) / (b - a)
        bid = va + (vb - va) * frac + (walk - walk_a) - (walk_b - walk_a) * frac
        bid = np.clip(np.round(bid, d), m_low[owner], m_high[owner])
        spread = ms.spread[rows, mins][owner] + np.floor(3 * _uniform(key, _S_TICK_SPREAD, t_minute, j)).astype(
            np.int64
        )
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

    def ticks_between(self, start_ms: int, end_ms: int, now_ms: int) -> Records:
        """Ticks with ``start_ms <= time_msc <= min(end_ms, now_ms)``, from history start on."""
        end_ms = min(end_ms, now_ms)
        start_ms = max(start_ms, HISTORY_START * 1000)
        if end_ms < start_ms:
            return np.zeros(0, dtype=TICKS_DTYPE)
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
        per_hour = MIN_TICKS_PER_HOUR + self.spec.ticks_per_hour // 2  # a first guess of how far to look
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

    def last_tick(self, now_ms: int) -> Records | None:
        """The last tick at or before ``now_ms``, or ``None`` before history starts."""
        now_hour = now_ms // 3_600_000
        index = int(self.calendar.before(now_hour + 1)) - 1  # the last trading hour at or before now
        hour = int(self.calendar.hour_at(index))
        if hour * 3600 < HISTORY_START:
            return None
        ms = self.minutes(self.hours(np.array([hour])))
        minute = 59 if hour < now_hour else (now_ms // 60_000) % 60
        ticks = self.ticks(ms, np.array([0]), np.array([minute]))
        ticks = ticks[ticks["time_msc"] <= now_ms]
        return ticks[-1:] if len(ticks) else None

    # --- bars ---

    def pieces_until(self, start_s: int, now_ms: int) -> Pieces:
        """Hour, minute and tick rows covering ``[start_s, now]``: the current bar so far, from ``start_s``."""
        now_s = now_ms // 1000
        now_hour, now_minute = now_s // 3600, now_s // 60
        parts = []
        whole_hours = self.calendar.hours_between(max(start_s, HISTORY_START), now_hour * 3600)
        if len(whole_hours):
            parts.append(_hour_pieces(self.hours(whole_hours)))
        if bool(self.calendar.is_open(now_hour)) and now_hour * 3600 >= HISTORY_START:
            ms = self.minutes(self.hours(np.array([now_hour])))
            first = max(0, (max(start_s, now_hour * 3600) - now_hour * 3600) // 60)
            mins = np.arange(first, now_minute % 60, dtype=np.int64)
            parts.append(_minute_pieces(ms, np.zeros(len(mins), dtype=np.int64), mins))
            ticks = self.ticks(ms, np.array([0]), np.array([now_minute % 60]))
            ticks = ticks[ticks["time_msc"] <= now_ms]
            if len(ticks):
                parts.append(_tick_pieces(ticks, self.spec.point))
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
            _fill(out, _hour_pieces(hs))
        else:
            first = self.calendar.before(-(-np.maximum(starts, HISTORY_START) // 3600))
            last = self.calendar.before(-(-ends // 3600))
            counts = np.maximum(last - first, 0)
            index = np.repeat(first - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
            hs = self.hours(self.calendar.hour_at(index))
            bounds = np.concatenate([[0], np.cumsum(counts)[:-1]])
            _fill(out, _reduce(_hour_pieces(hs), bounds))
        out["time"] = starts
        now_s = now_ms // 1000
        current = np.flatnonzero((starts <= now_s) & (now_s < ends))
        if len(current):
            i = int(current[0])
            pieces = self.pieces_until(int(starts[i]), now_ms)
            if len(pieces.time):
                _fill(out[i : i + 1], _reduce(pieces, np.array([0])))
        return out


def _hour_pieces(hs: Hours) -> Pieces:
    return Pieces(hs.hour * 3600, hs.open, hs.high, hs.low, hs.close, hs.count, hs.spread)


def _minute_pieces(ms: Minutes, rows: I64, mins: I64) -> Pieces:
    time = (ms.hours.hour[rows] * 60 + mins) * 60
    return Pieces(
        time,
        ms.open[rows, mins],
        ms.high[rows, mins],
        ms.low[rows, mins],
        ms.close[rows, mins],
        ms.count[rows, mins],
        ms.spread[rows, mins],
    )


def _tick_pieces(ticks: Records, point: float) -> Pieces:
    """Some ticks of one minute as a single row."""
    bid = ticks["bid"]
    spreads = np.round((ticks["ask"] - bid) / point).astype(np.int64)
    return Pieces(
        np.array([int(ticks["time"][0]) // 60 * 60]),
        bid[:1].copy(),
        np.array([bid.max()]),
        np.array([bid.min()]),
        bid[-1:].copy(),
        np.array([len(ticks)]),
        np.array([spreads.min()]),
    )


def _reduce(p: Pieces, bounds: I64) -> Pieces:
    """Aggregate consecutive rows into groups starting at ``bounds``."""
    ends = np.concatenate([bounds[1:], [len(p.time)]]) - 1
    return Pieces(
        p.time[bounds],
        p.open[bounds],
        np.maximum.reduceat(p.high, bounds),
        np.minimum.reduceat(p.low, bounds),
        p.close[ends],
        np.add.reduceat(p.count, bounds),
        np.minimum.reduceat(p.spread, bounds),
    )


def _fill(out: Records, p: Pieces) -> None:
    out["open"] = p.open
    out["high"] = p.high
    out["low"] = p.low
    out["close"] = p.close
    out["tick_volume"] = p.count
    out["spread"] = p.spread


# --- which bars exist ----------------------------------------------------------------------------------------


class BarIndex:
    """The bars of one symbol and timeframe that exist at ``now``: those whose period holds a tick at or before
    now and after history start, newest ``maxbars`` only (the terminal's "Max. bars in chart").

    Positions count back from the current bar (0). Bars of a minute timeframe up to H1 are counted in closed form
    from the trading calendar; longer ones are listed (at most a few tens of thousands since history start).
    """

    def __init__(self, market: SymbolMarket, timeframe: int, now_s: int, maxbars: int) -> None:
        self._cal = market.calendar
        self._seconds = c.timeframe_seconds(timeframe)
        self._now = now_s
        if self._seconds is not None and self._seconds <= 3600:
            self._per_hour = 3600 // self._seconds
            top = self._ge(now_s + 1) - 1
            bottom = max(self._ge(HISTORY_START), top - maxbars + 1)
            self._bottom, self._top = bottom, top
            self._starts: I64 | None = None
        else:
            starts, ends = self._periods(timeframe, now_s)
            first_hour = self._cal.hour_at(self._cal.before(-(-np.maximum(starts, HISTORY_START) // 3600))) * 3600
            exists = (first_hour < ends) & (first_hour <= now_s) & (ends > HISTORY_START)
            self._starts, self._ends = starts[exists][-maxbars:], ends[exists][-maxbars:]
            self._bottom, self._top = 0, len(self._starts) - 1

    @property
    def count(self) -> int:
        return max(0, self._top - self._bottom + 1)

    @property
    def oldest(self) -> int | None:
        """The open time of the oldest available bar."""
        return None if self.count == 0 else int(self._bars(self._bottom, self._bottom)[0][0])

    def by_position(self, start_pos: int, count: int) -> tuple[I64, I64]:
        top = self._top - start_pos
        return self._bars(max(self._bottom, top - count + 1), top)

    def up_to(self, date: int, count: int) -> tuple[I64, I64]:
        top = min(self._top, self._index_le(date))
        return self._bars(max(self._bottom, top - count + 1), top)

    def between(self, date_from: int, date_to: int) -> tuple[I64, I64]:
        return self._bars(max(self._bottom, self._index_le(date_from - 1) + 1), min(self._top, self._index_le(date_to)))

    # --- internals ---

    def _bars(self, lo: int, hi: int) -> tuple[I64, I64]:
        """Starts and ends of the bars with indices ``lo..hi`` (empty if ``hi < lo``)."""
        if hi < lo:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        if self._starts is not None:
            return self._starts[lo : hi + 1], self._ends[lo : hi + 1]
        assert self._seconds is not None
        g = np.arange(lo, hi + 1, dtype=np.int64)
        starts = self._cal.hour_at(g // self._per_hour) * 3600 + (g % self._per_hour) * self._seconds
        return starts, starts + self._seconds

    def _ge(self, t: int) -> int:
        """Global index of the first bar opening at or after ``t`` (minute timeframes up to H1)."""
        assert self._seconds is not None
        hour = t // 3600
        base = int(self._cal.before(hour)) * self._per_hour
        if bool(self._cal.is_open(hour)):
            return base + -(-(t - hour * 3600) // self._seconds)
        return base

    def _index_le(self, t: int) -> int:
        """Index of the last bar opening at or before ``t``."""
        if self._starts is None:
            return self._ge(t + 1) - 1
        return int(np.searchsorted(self._starts, t, side="right")) - 1

    @staticmethod
    def _periods(timeframe: int, now_s: int) -> tuple[I64, I64]:
        """Every period of the timeframe from the one holding history start to the one holding now."""
        if timeframe == c.TIMEFRAME_MN1:
            first = np.datetime64(HISTORY_START, "s").astype("datetime64[M]")
            last = np.datetime64(max(now_s, HISTORY_START), "s").astype("datetime64[M]")
            months = np.arange(first, last + 2)
            edges = months.astype("datetime64[s]").astype(np.int64)
            return edges[:-1], edges[1:]
        seconds = c.timeframe_seconds(timeframe)
        assert seconds is not None
        origin = _SUNDAY_HOUR * 3600 if timeframe == c.TIMEFRAME_W1 else 0
        first = (HISTORY_START - origin) // seconds * seconds + origin
        last = (max(now_s, HISTORY_START) - origin) // seconds * seconds + origin
        starts = np.arange(first, last + 1, seconds, dtype=np.int64)
        return starts, starts + seconds


# --- one trade server's market ---------------------------------------------------------------------------------


class Market:
    """The symbols of one trade server. Its prices depend on the server's name and ``seed`` only."""

    def __init__(self, server: str, seed: int = 0, symbols: Sequence[SymbolSpec] = SYMBOLS) -> None:
        self.server = server
        key = stable_hash(server) ^ (seed * 0x2545F4914F6CDD1D & 0xFFFFFFFFFFFFFFFF)
        self._symbols = {spec.name: SymbolMarket(spec, key) for spec in symbols}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._symbols)

    @property
    def specs(self) -> tuple[SymbolSpec, ...]:
        return tuple(market.spec for market in self._symbols.values())

    def get(self, name: str) -> SymbolMarket | None:
        return self._symbols.get(name)

    def tick(self, name: str, now_ms: int) -> Tick | None:
        """The symbol's last tick at or before now (``None`` for an unknown symbol or before history)."""
        market = self._symbols.get(name)
        row = None if market is None else market.last_tick(now_ms)
        return None if row is None else _tick(row[0])

    def rates_window(self, name: str, timeframe: int, now_ms: int, maxbars: int) -> BarIndex:
        return BarIndex(self._symbols[name], timeframe, now_ms // 1000, maxbars)

    def book(self, name: str, now_ms: int) -> tuple[BookInfo, ...]:
        """Depth of Market around the last tick: asks from the farthest down to the best, then bids from the best
        down (the order of the SDK page's example), with hashed volumes that change every second."""
        market = self._symbols[name]
        tick = self.tick(name, now_ms)
        if tick is None:
            return ()
        spec = market.spec
        step = max(1, spec.spread // 3) * spec.point
        levels = np.arange(BOOK_LEVELS)
        lots = np.array([1, 2, 5, 10, 20, 36, 50, 100, 250])
        draw = _hash(market.key, _S_BOOK, now_ms // 1000, np.arange(2 * BOOK_LEVELS))
        volumes = lots[(draw % np.uint64(len(lots))).astype(np.int64)] * (1 + levels.repeat(2) // 2)
        asks = np.round(tick.ask + levels[::-1] * step, spec.digits)
        bids = np.round(tick.bid - levels * step, spec.digits)
        entries = [(c.BOOK_TYPE_SELL, float(p), int(v)) for p, v in zip(asks, volumes[:BOOK_LEVELS], strict=True)]
        entries += [(c.BOOK_TYPE_BUY, float(p), int(v)) for p, v in zip(bids, volumes[BOOK_LEVELS:], strict=True)]
        return tuple(BookInfo(kind, price, volume, float(volume)) for kind, price, volume in entries)

    def symbol_info(self, name: str, now_ms: int, *, selected: bool, account_currency: str) -> SymbolInfo:
        """The symbol's ``SymbolInfo`` now, for an account in ``account_currency``."""
        market = self._symbols[name]
        spec = market.spec
        tick = self.tick(name, now_ms) or Tick(0, 0.0, 0.0, 0.0, 0, 0, 0, 0.0)
        days = BarIndex(market, c.TIMEFRAME_D1, now_ms // 1000, 2)
        d1 = market.rates(c.TIMEFRAME_D1, *days.by_position(0, 2), now_ms)
        today = d1[-1] if len(d1) else None
        previous_close = float(d1[-2]["close"]) if len(d1) > 1 else 0.0
        spread = round((tick.ask - tick.bid) / spec.point) if tick.time else 0
        bidhigh = float(today["high"]) if today is not None else 0.0
        bidlow = float(today["low"]) if today is not None else 0.0
        tick_value = spec.point * spec.contract_size * self._rate(spec.currency_profit, account_currency, now_ms)
        change = round((tick.bid - previous_close) / previous_close * 100, 2) if previous_close else 0.0
        return SymbolInfo(
            custom=False,
            chart_mode=c.SYMBOL_CHART_MODE_BID,
            select=selected,
            visible=selected,
            session_deals=0,
            session_buy_orders=0,
            session_sell_orders=0,
            volume=0,
            volumehigh=0,
            volumelow=0,
            time=tick.time,
            digits=spec.digits,
            spread=spread,
            spread_float=True,
            ticks_bookdepth=2 * BOOK_LEVELS,
            trade_calc_mode=spec.calc_mode,
            trade_mode=spec.trade_mode,
            start_time=0,
            expiration_time=0,
            trade_stops_level=spec.stops_level,
            trade_freeze_level=0,
            trade_exemode=spec.exemode,
            swap_mode=1,
            swap_rollover3days=3,
            margin_hedged_use_leg=False,
            expiration_mode=15,
            filling_mode=spec.filling_mode,
            order_mode=127,
            order_gtc_mode=0,
            option_mode=0,
            option_right=0,
            bid=tick.bid,
            bidhigh=bidhigh,
            bidlow=bidlow,
            ask=tick.ask,
            askhigh=round(bidhigh + spread * spec.point, spec.digits) if today is not None else 0.0,
            asklow=round(bidlow + spread * spec.point, spec.digits) if today is not None else 0.0,
            last=0.0,
            lasthigh=0.0,
            lastlow=0.0,
            volume_real=0.0,
            volumehigh_real=0.0,
            volumelow_real=0.0,
            option_strike=0.0,
            point=spec.point,
            trade_tick_value=tick_value,
            trade_tick_value_profit=tick_value,
            trade_tick_value_loss=tick_value,
            trade_tick_size=spec.point,
            trade_contract_size=spec.contract_size,
            trade_accrued_interest=0.0,
            trade_face_value=0.0,
            trade_liquidity_rate=0.0,
            volume_min=spec.volume_min,
            volume_max=spec.volume_max,
            volume_step=spec.volume_step,
            volume_limit=0.0,
            swap_long=spec.swap_long,
            swap_short=spec.swap_short,
            margin_initial=0.0,
            margin_maintenance=0.0,
            session_volume=0.0,
            session_turnover=0.0,
            session_interest=0.0,
            session_buy_orders_volume=0.0,
            session_sell_orders_volume=0.0,
            session_open=float(today["open"]) if today is not None else 0.0,
            session_close=previous_close,
            session_aw=0.0,
            session_price_settlement=0.0,
            session_price_limit_min=0.0,
            session_price_limit_max=0.0,
            margin_hedged=spec.contract_size,
            price_change=change,
            price_volatility=0.0,
            price_theoretical=0.0,
            price_greeks_delta=0.0,
            price_greeks_theta=0.0,
            price_greeks_gamma=0.0,
            price_greeks_vega=0.0,
            price_greeks_rho=0.0,
            price_greeks_omega=0.0,
            price_sensitivity=0.0,
            basis="",
            category="",
            currency_base=spec.currency_base,
            currency_profit=spec.currency_profit,
            currency_margin=spec.currency_margin,
            bank="",
            description=spec.description,
            exchange="",
            formula="",
            isin="",
            name=spec.name,
            page="",
            path=spec.path,
        )

    def rate(self, source: str, target: str, now_ms: int) -> float:
        """Units of ``target`` per unit of ``source`` now (see :meth:`_rate`)."""
        return self._rate(source, target, now_ms)

    def _rate(self, source: str, target: str, now_ms: int) -> float:
        """Units of ``target`` per unit of ``source`` from this market's FX pairs, directly or through USD (1.0 when
        no pair links them)."""
        if source == target:
            return 1.0
        direct = self._direct_rate(source, target, now_ms)
        if direct is not None:
            return direct
        via = self._direct_rate(source, "USD", now_ms), self._direct_rate("USD", target, now_ms)
        return via[0] * via[1] if via[0] is not None and via[1] is not None else 1.0

    def _direct_rate(self, source: str, target: str, now_ms: int) -> float | None:
        if source == target:
            return 1.0
        for name, market in self._symbols.items():
            spec = market.spec
            if not spec.path.startswith("Forex\\"):
                continue
            pair = (spec.currency_base, spec.currency_profit)
            if pair in ((source, target), (target, source)):
                tick = self.tick(name, now_ms)
                if tick is None or not tick.bid:
                    return None
                return tick.bid if pair == (source, target) else 1.0 / tick.bid
        return None


def _tick(row: Any) -> Tick:
    return Tick(
        time=int(row["time"]),
        bid=float(row["bid"]),
        ask=float(row["ask"]),
        last=float(row["last"]),
        volume=int(row["volume"]),
        time_msc=int(row["time_msc"]),
        flags=int(row["flags"]),
        volume_real=float(row["volume_real"]),
    )
