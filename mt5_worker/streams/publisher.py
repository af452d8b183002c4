"""Appending a symbol's ticks and bars to its streams, trimmed by age.

Each entry gets its time-derived ID (:mod:`~mt5_worker.streams.ids`); Redis refuses an ID at or below the stream's
last, which is how a tick published by a feed that stopped is never published again by the one that takes over.
Streams are trimmed to ``retention`` seconds of the trade server's time (``MINID``, approximate: whole macro nodes,
so a little more may stay), and the trimmed horizon is kept in ``mt5:streams:horizon`` for readers to report a gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from mt5_worker.streams.ids import EntryId
from mt5_worker.streams.keys import HORIZON_KEY

Entry = tuple[EntryId, Mapping[str, str]]
TOO_SMALL = "equal or smaller"  # Redis's refusal of an ID at or below the stream's last


@dataclass
class Published:
    """What one append did: entries written, and entries refused as already there."""

    written: int = 0
    duplicates: int = 0


def last_id(client: redis.Redis, key: str) -> EntryId | None:
    """The stream's last entry ID, ``None`` when it is empty or absent."""
    found: list[tuple[str | bytes, Any]] = client.xrevrange(key, "+", "-", count=1)  # type: ignore[assignment]
    return EntryId.parse(found[0][0]) if found else None


def append(client: redis.Redis, key: str, entries: Sequence[Entry], retention_ms: int) -> Published:
    """Append ``entries`` (in ID order) to ``key`` in one round trip, trimming what is older than the newest entry's
    time minus ``retention_ms``."""
    if not entries:
        return Published()
    horizon = entries[-1][0].ms - retention_ms
    pipe = client.pipeline(transaction=False)
    for entry_id, fields in entries:
        values: dict[Any, Any] = dict(fields)
        pipe.xadd(key, values, id=str(entry_id), minid=str(max(horizon, 0)), approximate=True)
    pipe.hset(HORIZON_KEY, key, max(horizon, 0))
    outcome = Published()
    for result in pipe.execute(raise_on_error=False)[:-1]:
        if isinstance(result, redis.ResponseError) and TOO_SMALL in str(result):
            outcome.duplicates += 1
        elif isinstance(result, Exception):
            raise result
        else:
            outcome.written += 1
    return outcome


def horizon_ms(client: redis.Redis, key: str) -> int:
    """The first millisecond ``key`` is sure to hold: older entries may have been trimmed (0: never trimmed)."""
    value = client.hget(HORIZON_KEY, key)
    return int(value) if value is not None else 0
