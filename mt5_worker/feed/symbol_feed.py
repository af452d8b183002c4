"""One symbol of a feed: which of the terminal's ticks are new, and the M1 bars they make.

A poll pages through the terminal's ticks from the second of the last tick published (``copy_ticks_from`` with
``COPY_TICKS_ALL``; never ``symbol_info_tick``, which shows only the latest tick and loses those between two
polls). Pages overlap at their edges (the SDK's bounds are inclusive and it counts from whole seconds): the cursor
drops what was published. A page that is full and all within one second cannot move a count-limited cursor on, so
that second is read whole with ``copy_ticks_range`` and the next page starts after it (docs/sdk-market-data.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mt5_worker.streams.bars import Bar, BarBuilder
from mt5_worker.streams.cursor import TickCursor
from mt5_worker.streams.ids import EntryId

COPY_TICKS_ALL = -1
TIMEFRAME_H1 = 16385
WEEK = 7 * 86400
PAGE = 10_000  # ticks per copy_ticks_from call
FORMING_EVERY_MS = 1000
PAGES_PER_POLL = 20  # then the feed publishes what it has and polls again at once

Call = Callable[..., Any]  # the manager's call(function, *args): an SDK call, raising its typed error


def start_second(last_quote_s: int, wanted_ms: int | None, retention_ms: int) -> int:
    """The second an empty stream starts from: the symbol's last quote's, or the earlier second of the first tick a
    subscriber reads (``wanted_ms``), but nothing retention would trim at once."""
    if wanted_ms is None or wanted_ms // 1000 >= last_quote_s:
        return last_quote_s
    return max(wanted_ms // 1000, (last_quote_s * 1000 - retention_ms) // 1000)


@dataclass
class Poll:
    """What one poll of a symbol found: new ticks and bars to publish, and whether more are waiting."""

    ticks: list[tuple[EntryId, Any]] = field(default_factory=list)
    bars: list[tuple[EntryId, Bar]] = field(default_factory=list)
    behind: bool = False


class SymbolFeed:
    """The cursor and the forming bar of one symbol's streams. ``last`` is the last entry of its ticks stream
    (``None``: empty; then it starts from ``start_s``, :func:`start_second`)."""

    def __init__(self, symbol: str, point: float, last: EntryId | None, start_s: int) -> None:
        self.symbol = symbol
        self.cursor = TickCursor(last)
        self.bars = BarBuilder(point)
        self.start_s = start_s
        self.last_time_msc: int | None = last.ms if last is not None else None
        self.forming_written_ms = 0  # when the forming bar was last written (market time)
        self.market_open: bool | None = None  # as of self.open_hour (hours since the epoch, server time)
        self.open_hour = -1

    def check_market(self, call: Call, server_now_s: float) -> bool | None:
        """Whether the symbol's market is open now, judged by its own history: it had an H1 bar at this hour of
        the week a week ago (its session hours; a holiday fools it). Asked once an hour."""
        hour = int(server_now_s // 3600)
        if hour != self.open_hour:
            last_week = (hour * 3600) - WEEK
            try:
                bars = call("copy_rates_range", self.symbol, TIMEFRAME_H1, last_week, last_week + 3599)
                self.market_open = bool(len(bars))
            except Exception:  # unknown: say nothing rather than a wrong "closed"
                self.market_open = None
            self.open_hour = hour
        return self.market_open

    def replay(self, ticks: Iterable[tuple[EntryId, Any]]) -> None:
        """Rebuild the forming bar from ticks already published (a feed that takes over)."""
        for entry, tick in ticks:
            self.bars.add(entry, tick)

    def poll(self, call: Call) -> Poll:
        found = Poll()
        start = self.cursor.poll_from(self.start_s)
        for _ in range(PAGES_PER_POLL):
            page = call("copy_ticks_from", self.symbol, start, PAGE, COPY_TICKS_ALL)
            times: Any = page["time"]
            if len(page) == PAGE and int(times[0]) == int(times[-1]) == start:
                page = call("copy_ticks_range", self.symbol, start, start + 1, COPY_TICKS_ALL)  # the whole second
                following: int | None = start + 1
            elif len(page) == PAGE:
                following = int(times[-1])  # the next page starts at the last tick's second, again
            else:
                following = None  # caught up
            for entry, tick in self.cursor.new(page):
                found.ticks.append((entry, tick))
                found.bars.extend(self.bars.add(entry, tick))
            if following is None:
                break
            start = following
        else:
            found.behind = True
        if found.ticks:
            last = found.ticks[-1][0]
            self.last_time_msc = last.ms
            forming = self.bars.forming(last)
            # The forming bar at most once a second of market time (and after a bar closes): every poll's would
            # cost the bars stream as much as the ticks stream, for a picture no chart redraws that often.
            if forming is not None and (found.bars or last.ms - self.forming_written_ms >= FORMING_EVERY_MS):
                found.bars.append(forming)
                self.forming_written_ms = last.ms
        return found
