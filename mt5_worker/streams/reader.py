"""Reading streams from a thread: a blocking generator over one or more streams, resumable, gaps reported.

What ``MT5Client.stream_ticks`` and ``stream_trades`` iterate; the asyncio flavour, which shares one connection
among every iterator of a client, is :mod:`~mt5_worker.streams.hub`. ``on_idle`` runs between reads (at least
every ``block`` seconds): the client refreshes its subscriptions there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import redis

from mt5_worker.streams.codec import text_fields
from mt5_worker.streams.ids import EntryId
from mt5_worker.streams.keys import HORIZON_KEY
from mt5_worker.streams.positions import NOTHING, Source, gap, past
from mt5_worker.streams.publisher import horizon_ms, last_id

Decode = Callable[[Mapping[str, str], Source, str], dict[str, Any]]
PAGE = 1000  # entries per read
REDIS_WAIT = 0.5  # seconds between tries while Redis does not answer


def start(client: redis.Redis, source: Source, after: EntryId | None) -> tuple[EntryId, dict[str, Any] | None]:
    """Where to read ``source`` from (exclusive), and the gap event owed first, if any. ``after`` ``None``: live,
    after the stream's last entry now."""
    if after is None:
        return last_id(client, source.key) or NOTHING, None
    first: list[tuple[Any, Any]] = client.xrange(source.key, f"({after}", "+", count=1)  # type: ignore[assignment]
    first_id = EntryId.parse(first[0][0]) if first else None
    return after, gap(source, after, horizon_ms(client, source.key), first_id)


def follow(
    client: redis.Redis,
    sources: Mapping[Source, EntryId | None],
    decode: Decode,
    *,
    block: float = 1.0,
    on_idle: Callable[[], None] = lambda: None,
) -> Iterator[dict[str, Any]]:
    """Every entry of ``sources`` after its start, as ``decode`` makes it, until the caller stops iterating."""
    positions: dict[Source, EntryId] = {}
    for source, after in sources.items():
        positions[source], owed = start(client, source, after)
        if owed is not None:
            positions[source] = past(owed, positions[source])
            yield owed
    by_key = {source.key: source for source in positions}
    while True:
        try:
            on_idle()
            horizons = client.hmget(HORIZON_KEY, [s.key for s in positions])  # trimmed past a slow reader: say so
            for (source, position), horizon in zip(tuple(positions.items()), horizons, strict=True):
                if horizon is not None and position.ms < int(horizon):
                    _, owed = start(client, source, position)
                    if owed is not None:
                        positions[source] = past(owed, position)
                        yield owed
            found: list[tuple[Any, list[tuple[Any, Any]]]] = client.xread(  # type: ignore[assignment]
                {s.key: str(p) for s, p in positions.items()}, count=PAGE, block=int(block * 1000)
            )
        except (redis.ConnectionError, redis.TimeoutError):
            time.sleep(REDIS_WAIT)  # Redis is back when it answers: the positions say where to go on
            continue
        for key, entries in found or ():
            source = by_key[key.decode() if isinstance(key, bytes) else key]
            for raw_id, fields in entries:
                entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                positions[source] = EntryId.parse(entry_id)
                yield decode(text_fields(fields), source, entry_id)
