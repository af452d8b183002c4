"""Stream entry IDs derived from tick times, and the positions a reader resumes from.

A tick's entry ID is ``{time_msc}-{n}``: its millisecond, and its place among the ticks of that millisecond (0, 1,
...). IDs therefore increase with time, any process that reads the same ticks derives the same IDs, and Redis
refuses an ID that is not greater than the stream's last one: publishing a tick twice is impossible, whichever
feed tries (docs/streams.md).

A reader's ``since`` is a time (epoch milliseconds, an ISO 8601 string, a ``datetime``: every entry at or after
it) or an entry ID (``"1796212800123-2"``: every entry after it, exactly where a reader stopped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from mt5_worker.errors import InvalidRequestError

ENTRY_ID = re.compile(r"(\d{1,19})-(\d{1,19})")
LATEST_MS = 2**43  # year 2248: beyond any trade server's clock, still exact in a float


@dataclass(frozen=True, order=True)
class EntryId:
    """A stream entry ID: milliseconds and a sequence number within them."""

    ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    @classmethod
    def parse(cls, text: str | bytes) -> EntryId:
        found = ENTRY_ID.fullmatch(text.decode() if isinstance(text, bytes) else text)
        if found is None:
            raise InvalidRequestError(f"invalid stream entry id {text!r}: <milliseconds>-<sequence>")
        return cls(int(found.group(1)), int(found.group(2)))

    def before(self) -> EntryId:
        """The greatest ID below this one (a read *after* it starts *at* this one)."""
        if self.seq:
            return EntryId(self.ms, self.seq - 1)
        return EntryId(self.ms - 1, 2**64 - 1) if self.ms else EntryId(0, 0)


Since = int | str | datetime


def start_after(since: Since) -> EntryId:
    """The ID a read resumes after (exclusive), for ``since``: a time includes its own millisecond's entries, an
    entry ID excludes itself."""
    if isinstance(since, str) and ENTRY_ID.fullmatch(since):
        return EntryId.parse(since)
    ms = since_ms(since)
    return EntryId(ms, 0).before()


def since_ms(since: Since) -> int:
    """Epoch milliseconds of a time given as milliseconds, an ISO 8601 string (naive = UTC) or a ``datetime``."""
    if isinstance(since, bool):
        raise InvalidRequestError("invalid since: epoch milliseconds, an ISO 8601 time or a stream entry id")
    if isinstance(since, int):
        ms = since
    elif isinstance(since, datetime):
        ms = int((since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp() * 1000)
    elif isinstance(since, str) and len(since) <= 64:
        try:
            parsed = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequestError(
                "invalid since: epoch milliseconds, an ISO 8601 time (2026-12-02T12:00:00Z) or a stream entry id"
            ) from None
        ms = int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000)
    else:
        raise InvalidRequestError("invalid since: epoch milliseconds, an ISO 8601 time or a stream entry id")
    if not 0 <= ms < LATEST_MS:
        raise InvalidRequestError("invalid since: out of range (1970 to 2248)")
    return ms
