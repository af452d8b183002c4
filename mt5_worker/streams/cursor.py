"""Which ticks of a poll are new: the cursor of one symbol's stream, a pure function of what was published.

The SDK can only be asked for ticks from a whole second (``copy_ticks_range``/``copy_ticks_from`` take seconds),
its bounds are inclusive, and several ticks may share a millisecond. So a feed asks again from the second of the
last tick it published, and each poll overlaps the last: this cursor drops what was published already, by entry
ID (``{time_msc}-{n}``, ``n`` the tick's place in its millisecond). A millisecond's ticks are numbered from the
first one the poll returns, which is the millisecond's first tick because a poll starts at a second boundary at or
before it; a tick of that millisecond that reaches the terminal after a poll read it gets the next number on the
next poll. (A tick for a millisecond earlier than one already published cannot come: the terminal's tick history
is in time order.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from mt5_worker.streams.ids import EntryId


class TickOrderError(ValueError):
    """The terminal answered ticks out of time order: nothing of the poll is published."""


@dataclass
class TickCursor:
    """The last tick published on a symbol's stream (``None``: nothing yet)."""

    last: EntryId | None = None

    def poll_from(self, default_s: int) -> int:
        """The second to ask from: the last published tick's, else ``default_s``."""
        return self.last.ms // 1000 if self.last is not None else default_s

    def new(self, ticks: Any) -> Iterator[tuple[EntryId, Any]]:
        """The ticks of a poll that are not published yet, with their entry IDs, in order; the cursor advances as
        they are taken. ``ticks``: the SDK's structured array (any sequence of records with ``time_msc``), from a
        second at or before the last published tick's."""
        times = [int(t) for t in ticks["time_msc"]] if len(ticks) else []
        if any(b < a for a, b in pairwise(times)):
            raise TickOrderError("ticks out of time order")
        seq, previous = 0, None
        for index, ms in enumerate(times):
            seq = seq + 1 if ms == previous else 0
            previous = ms
            entry = EntryId(ms, seq)
            if self.last is None or entry > self.last:
                self.last = entry
                yield entry, ticks[index]
