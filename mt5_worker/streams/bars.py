"""M1 bars built from a symbol's published ticks, as the terminal builds its Bid bars.

A bar's ``open``/``high``/``low``/``close`` are its ticks' bids, ``tick_volume`` their count, ``spread`` the
smallest spread in points, ``real_volume`` the sum of their volumes (the terminal's ``copy_rates_*`` fields; a
chart of ``chart_mode`` 0). A bar closes when the first tick of a later minute arrives: until then it is forming.

Entry IDs follow the ticks', so they increase and are the same whichever feed builds them: the bar a tick closes
is ``{time_msc}-{2n}`` and the forming bar after a poll's last tick ``{time_msc}-{2n+1}`` (``n``: that tick's
number in its millisecond). A feed that takes over rebuilds the forming bar from the ticks stream and writes only
what was not written: an ID at or below the stream's last is refused by Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mt5_worker.streams.codec import BAR_FIELDS, number
from mt5_worker.streams.ids import EntryId


@dataclass(frozen=True)
class Bar:
    time: int  # the minute's first second
    open: float
    high: float
    low: float
    close: float
    tick_volume: int
    spread: int
    real_volume: int
    closed: bool = False

    def fields(self) -> dict[str, str]:
        values = {name: getattr(self, name) for name in BAR_FIELDS}
        values["closed"] = int(self.closed)
        return {name: number(value) for name, value in values.items()}


class BarBuilder:
    """The forming M1 bar of one symbol; ``point``: the symbol's point (``SymbolInfo.point``), for spreads."""

    def __init__(self, point: float) -> None:
        self.point = point
        self.bar: Bar | None = None

    def add(self, entry: EntryId, tick: Any) -> list[tuple[EntryId, Bar]]:
        """Take one tick; the bar it closes, if any, with its entry ID."""
        minute = int(tick["time_msc"]) // 60_000 * 60
        bid = float(tick["bid"])
        spread = round((float(tick["ask"]) - bid) / self.point)
        volume = int(tick["volume"])
        closed: list[tuple[EntryId, Bar]] = []
        bar = self.bar
        if bar is not None and minute > bar.time:
            closed.append((EntryId(entry.ms, 2 * entry.seq), replace(bar, closed=True)))
            bar = None
        if bar is None:
            self.bar = Bar(minute, bid, bid, bid, bid, 1, spread, volume)
        else:
            self.bar = replace(bar, high=max(bar.high, bid), low=min(bar.low, bid), close=bid,
                               tick_volume=bar.tick_volume + 1, spread=min(bar.spread, spread),
                               real_volume=bar.real_volume + volume)  # fmt: skip
        return closed

    def forming(self, last: EntryId) -> tuple[EntryId, Bar] | None:
        """The forming bar as of the tick ``last``, with its entry ID."""
        return None if self.bar is None else (EntryId(last.ms, 2 * last.seq + 1), self.bar)
