"""Which bars of a symbol and timeframe exist at a given moment, and where they start and end."""

from __future__ import annotations

import numpy as np

from mt5_worker.simulator.market.calendar import _SUNDAY_HOUR, HISTORY_START
from mt5_worker.simulator.market.noise import I64
from mt5_worker.simulator.market.prices import SymbolMarket
from mt5_worker.terminal import constants as c


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
