"""Reading streams from asyncio: one reader shared by every iterator of a client.

A web service may hold a thousand iterators over a few dozen streams: one blocking ``XREAD`` per iterator would need
a thousand Redis connections. :class:`StreamHub` runs one ``XREAD BLOCK`` loop over every stream some iterator
follows and offers each entry to that stream's iterators. Each iterator keeps its own position and drops what it
already has, so joining, catching up and falling behind lose nothing and repeat nothing:

- joining: the iterator registers first, then reads its stream from its start with ``XRANGE`` (pages), then takes
  what the hub offered meanwhile, skipping entries at or before its position;
- falling behind: an iterator whose queue is full is skipped by the hub until it has read, again with ``XRANGE``,
  everything from its position on (memory stays bounded by the queue, and nothing is lost while the stream holds
  it; what retention trimmed meanwhile comes as a gap event).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import redis.asyncio as aioredis

from mt5_worker.streams.codec import text_fields
from mt5_worker.streams.ids import EntryId
from mt5_worker.streams.keys import HORIZON_KEY
from mt5_worker.streams.positions import NOTHING, Source, gap, past
from mt5_worker.streams.reader import PAGE

Decode = Callable[[Mapping[str, str], Source, str], dict[str, Any]]
QUEUE = 10_000  # entries an iterator may hold before the hub skips it
BLOCK_MS = 100  # the longest an XREAD waits: how late a stream that starts being followed is added to it


class _Listener:
    def __init__(self, sources: Mapping[Source, EntryId], size: int) -> None:
        self.last = dict(sources)
        self.by_key = {source.key: source for source in sources}
        self.queue: asyncio.Queue[tuple[Source, EntryId, Any]] = asyncio.Queue(size)
        self.behind = False

    def offer(self, key: str, entry_id: EntryId, fields: Any) -> None:
        if self.behind:
            return
        try:
            self.queue.put_nowait((self.by_key[key], entry_id, fields))
        except asyncio.QueueFull:
            self.behind = True  # it reads from Redis until it has caught up


class StreamHub:
    """The stream reader of one asyncio client (``AsyncMT5Client``); ``client`` is its own Redis connection pool."""

    def __init__(self, client: aioredis.Redis, *, queue: int = QUEUE, block_ms: int = BLOCK_MS) -> None:
        self._redis: Any = client  # redis-py's stubs type stream replies too loosely to be of use here
        self._queue = queue
        self._block_ms = block_ms
        self._read_to: dict[str, EntryId] = {}  # stream key -> the last entry the hub read
        self._listeners: dict[str, set[_Listener]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def followed(self) -> int:
        """How many streams the hub reads now."""
        return len(self._read_to)

    async def iterate(self, sources: Mapping[Source, EntryId | None], decode: Decode) -> AsyncIterator[dict[str, Any]]:
        """Every entry of ``sources`` after its start (``None``: after its last entry now), decoded, gaps first."""
        starts: dict[Source, EntryId] = {}
        for source, after in sources.items():
            starts[source], owed = await self._start(source, after)
            if owed is not None:
                starts[source] = past(owed, starts[source])
                yield owed
        listener = _Listener(starts, self._queue)
        self._join(listener)
        try:
            async for item in self._catch_up(listener, decode):
                yield item
            while True:
                source, entry_id, fields = await listener.queue.get()
                if entry_id > listener.last[source]:
                    listener.last[source] = entry_id
                    yield decode(text_fields(fields), source, str(entry_id))
                if listener.behind and listener.queue.empty():
                    async for item in self._catch_up(listener, decode):
                        yield item
        finally:
            self._leave(listener)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- joining and catching up ---

    async def _start(self, source: Source, after: EntryId | None) -> tuple[EntryId, dict[str, Any] | None]:
        if after is None:
            found = await self._redis.xrevrange(source.key, "+", "-", count=1)
            return (EntryId.parse(found[0][0]) if found else NOTHING), None
        first = await self._redis.xrange(source.key, f"({after}", "+", count=1)
        horizon = await self._redis.hget(HORIZON_KEY, source.key)
        first_id = EntryId.parse(first[0][0]) if first else None
        return after, gap(source, after, int(horizon or 0), first_id)

    async def _catch_up(self, listener: _Listener, decode: Decode) -> AsyncIterator[dict[str, Any]]:
        """Everything from the listener's positions on, read directly; the hub offers it what comes after."""
        listener.behind = False
        for source in listener.last:
            _, owed = await self._start(source, listener.last[source])  # trimmed while it was behind: say so
            if owed is not None:
                listener.last[source] = past(owed, listener.last[source])
                yield owed
            while True:
                page = await self._redis.xrange(source.key, f"({listener.last[source]}", "+", count=PAGE)
                for raw_id, fields in page:
                    entry_id = EntryId.parse(raw_id)
                    listener.last[source] = entry_id
                    yield decode(text_fields(fields), source, str(entry_id))
                if len(page) < PAGE:
                    break

    def _join(self, listener: _Listener) -> None:
        for source, start in listener.last.items():
            self._listeners.setdefault(source.key, set()).add(listener)
            self._read_to.setdefault(source.key, start)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._read())

    def _leave(self, listener: _Listener) -> None:
        for key in listener.by_key:
            remaining = self._listeners.get(key, set())
            remaining.discard(listener)
            if not remaining:
                self._listeners.pop(key, None)
                self._read_to.pop(key, None)

    # --- the shared reader ---

    async def _read(self) -> None:
        while self._read_to:
            streams = {key: str(position) for key, position in self._read_to.items()}
            try:
                found = await self._redis.xread(streams, count=PAGE, block=self._block_ms)
            except (aioredis.ConnectionError, aioredis.TimeoutError):
                await asyncio.sleep(0.5)  # Redis is back when it answers; iterators resume from their positions
                continue
            for raw_key, entries in found or ():
                key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
                if key not in self._read_to:
                    continue  # nobody follows it any more
                for raw_id, fields in entries:
                    entry_id = EntryId.parse(raw_id)
                    self._read_to[key] = entry_id
                    for listener in tuple(self._listeners.get(key, ())):
                        listener.offer(key, entry_id, fields)
