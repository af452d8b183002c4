"""Where a reader of a stream starts, and the gap it must report: pure, shared by the blocking and asyncio readers.

A reader starts after an entry ID (``since``, :func:`~mt5_worker.streams.ids.start_after`), or after the stream's
last entry when it has no ``since`` (live from now). Entries older than the stream's horizon may have been trimmed
(``MT5_STREAM_RETENTION``): a reader whose ``since`` lies before it gets an explicit gap event first, covering the
milliseconds from ``since`` to its first entry still there, never silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mt5_worker.streams.ids import EntryId

NOTHING = EntryId(0, 0)  # start after this: every entry (entry IDs start at 0-1)


@dataclass(frozen=True)
class Source:
    """One stream a reader follows: its key, and what its entries are about (a symbol; ``None`` for trades)."""

    key: str
    symbol: str | None = None


def gap(source: Source, after: EntryId, horizon_ms: int, first: EntryId | None) -> dict[str, Any] | None:
    """The gap event owed before reading ``source`` after ``after``, if entries from there may be gone: ``from_msc``
    (inclusive) to ``to_msc`` (exclusive: the first entry still there, or the horizon)."""
    start = first_ms(after)
    if start >= horizon_ms:
        return None
    end = min(first.ms, horizon_ms) if first is not None else horizon_ms
    if end <= start:
        return None
    event: dict[str, Any] = {"type": "gap", "from_msc": start, "to_msc": end, "stream": source.key}
    if source.symbol is not None:
        event["symbol"] = source.symbol
    return event


def first_ms(after: EntryId) -> int:
    """The first millisecond whose entries a reader starting after ``after`` may want."""
    return after.ms + (1 if after.seq == 2**64 - 1 else 0) if after != NOTHING else 0


def past(owed: dict[str, Any], position: EntryId) -> EntryId:
    """The position after a gap event: its end, so the same gap is not reported twice."""
    return max(position, EntryId(int(owed["to_msc"]), 0).before())
