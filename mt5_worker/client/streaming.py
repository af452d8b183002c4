"""Live streams from the clients: ``stream_ticks`` and ``stream_trades`` (docs/streams.md).

:class:`AsyncStreams` gives :class:`~mt5_worker.client.async_client.AsyncMT5Client` async iterators, read through
one shared :class:`~mt5_worker.streams.hub.StreamHub`; :class:`Streams` gives
:class:`~mt5_worker.client.threaded.MT5Client` blocking generators. Both read the streams from ``REDIS_URL`` (where
the feeds and workers write them), register the symbols they follow as subscriptions while they iterate (so a
feed serves a symbol outside ``MT5_FEED_SYMBOLS``), and drop them when the iterator is closed; a process that dies
leaves subscriptions that lapse by themselves.

Close an iterator you stop early (``async with contextlib.aclosing(...)``, or ``iterator.close()``) to drop its
subscriptions at once; otherwise they go when it is garbage-collected, or lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncGenerator, Generator, Iterable, Mapping
from datetime import datetime
from typing import Any

import redis
import redis.asyncio as aioredis

from mt5_worker.errors import InvalidRequestError
from mt5_worker.settings import SYMBOL_NAME, Settings
from mt5_worker.streams import subscriptions
from mt5_worker.streams.codec import tick_from, trade_from
from mt5_worker.streams.hub import StreamHub
from mt5_worker.streams.ids import EntryId, start_after
from mt5_worker.streams.keys import subscribers_key, ticks_key, trades_key
from mt5_worker.streams.positions import Source, first_ms
from mt5_worker.streams.reader import follow

Since = int | str | datetime | Mapping[str, int | str | datetime] | None
SERVER = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
MAX_SYMBOLS = 200
CONNECTIONS = 16  # Redis connections of an AsyncMT5Client's streams: the hub's XREAD, joins, subscriptions
CONNECTION_WAIT = 30.0  # seconds an iterator's request waits for one of them before it fails
BLOCK = 1.0  # seconds a blocking read waits for new entries before it looks at its subscriptions again


def tick_sources(server: Any, symbols: Any, since: Since) -> dict[Source, EntryId | None]:
    """The ticks streams of ``symbols`` on ``server``, each with where it starts; bad input is refused, naming it."""
    if not isinstance(server, str) or not SERVER.fullmatch(server):
        raise InvalidRequestError("invalid server: the trade server's name, 1-128 printable characters")
    names = [symbols] if isinstance(symbols, str) else list(symbols) if isinstance(symbols, Iterable) else None
    if not names or len(names) > MAX_SYMBOLS or not all(isinstance(s, str) and SYMBOL_NAME.fullmatch(s) for s in names):
        raise InvalidRequestError(f"invalid symbols: 1-{MAX_SYMBOLS} symbol names (letters, digits, ._#+-/@&!$)")
    per_symbol = since if isinstance(since, Mapping) else dict.fromkeys(names, since)
    unknown = sorted(set(per_symbol) - set(names))
    if unknown:
        raise InvalidRequestError(f"invalid since: symbols not streamed: {', '.join(unknown)}")
    return {Source(ticks_key(server, s), s): _start(per_symbol.get(s)) for s in dict.fromkeys(names)}


def trade_sources(login: Any, since: Since) -> dict[Source, EntryId | None]:
    if not isinstance(login, int) or isinstance(login, bool) or not 0 < login < 2**63:
        raise InvalidRequestError("invalid login: a positive integer")
    if isinstance(since, Mapping):
        raise InvalidRequestError("invalid since: a time or an entry id (one stream)")
    return {Source(trades_key(login)): _start(since)}


def _start(since: int | str | datetime | None) -> EntryId | None:
    return None if since is None else start_after(since)


def wanted_from(sources: Mapping[Source, EntryId | None]) -> dict[str, int]:
    """The first millisecond read of each symbol read from a time or an entry: what its subscription tells a feed
    that has yet to start serving the symbol, so its stream begins early enough."""
    return {s.symbol: first_ms(after) for s, after in sources.items() if s.symbol and after is not None}


def _tick(fields: Mapping[str, str], source: Source, entry_id: str) -> dict[str, Any]:
    return tick_from(fields, source.symbol or "", entry_id)


def _trade(fields: Mapping[str, str], source: Source, entry_id: str) -> dict[str, Any]:
    return trade_from(fields, entry_id)


class AsyncStreams:
    """``stream_ticks`` and ``stream_trades`` for ``async def`` code."""

    settings: Settings
    # One pool, hub and subscription set per Redis: the ticks' (REDIS_URL) and, if the order records have a Redis of
    # their own (MT5_SESSIONS_REDIS_URL), the trade events'.
    _streams: dict[str, tuple[aioredis.Redis, StreamHub, _Subscriptions]] | None = None

    async def stream_ticks(
        self, server: str, symbols: str | Iterable[str], since: Since = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every tick of ``symbols`` on trade server ``server``: from now on, or from ``since`` (epoch ms, ISO 8601,
        a ``datetime``, an entry ID, or a dict of those by symbol). A tick is ``{"type": "tick", "symbol", "id",
        "time", "time_msc", "bid", "ask", "last", "volume", "flags", "volume_real"}``; a span that retention trimmed
        comes as ``{"type": "gap", "symbol", "from_msc", "to_msc"}``.

        >>> async for tick in client.stream_ticks("MetaQuotes-Demo", ["EURUSD"]):
        ...     print(tick["bid"], tick["ask"])
        """
        sources = tick_sources(server, symbols, since)
        _, hub, subscribed = self._stream_reader(self.settings.effective_redis_url)
        symbols = [s.symbol for s in sources if s.symbol]
        members = subscriptions.members(symbols, subscriptions.subscriber_id(), wanted_from(sources))
        await subscribed.add(server, members)
        try:
            async for item in hub.iterate(sources, _tick):
                yield item
        finally:
            await subscribed.remove(server, members)

    async def stream_trades(self, login: int, since: Since = None) -> AsyncGenerator[dict[str, Any], None]:
        """Every ``mt5.order_send`` outcome of account ``login`` from now on (or from ``since``): ``{"type":
        "trade", "id", "login", "idempotency_key", "retcode", "order", "deal", "symbol", "volume", "price",
        "time_msc", "source"}``."""
        sources = trade_sources(login, since)
        _, hub, _ = self._stream_reader(self.settings.session_store_url)  # the records' Redis
        async for item in hub.iterate(sources, _trade):
            yield item

    def _stream_reader(self, url: str) -> tuple[aioredis.Redis, StreamHub, _Subscriptions]:
        if self._streams is None:
            self._streams = {}
        if url not in self._streams:
            # A bounded pool that waits for a free connection: a thousand iterators joining at once (a web
            # service's browsers reconnecting) share a few connections instead of failing past redis-py's 100.
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=CONNECTIONS, timeout=CONNECTION_WAIT, socket_connect_timeout=5
            )
            client = aioredis.Redis.from_pool(pool)
            self._streams[url] = (client, StreamHub(client), _Subscriptions(client))
        return self._streams[url]

    async def _close_streams(self) -> None:
        readers, self._streams = self._streams or {}, None
        for client, hub, subscribed in readers.values():
            await subscribed.close()
            await hub.close()
            await client.aclose()


class _Subscriptions:
    """The subscriptions of one client's async iterators (a member per iterator and symbol), refreshed together:
    one ``ZADD`` per server every ``REFRESH`` seconds, where a thousand iterators refreshing their own would cost a
    thousand round trips. Redis down: the feeds keep serving until the members lapse, and the next refresh tries
    again."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._members: dict[str, set[str]] = {}  # server -> members
        self._task: asyncio.Task[None] | None = None

    async def add(self, server: str, members: list[str]) -> None:
        self._members.setdefault(server, set()).update(members)
        await self._subscribe(server, members)  # now: the feeds serve the symbols from their next poll
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._refresh())

    async def remove(self, server: str, members: list[str]) -> None:
        listed = self._members.get(server, set())
        listed.difference_update(members)
        if not listed:
            self._members.pop(server, None)
        with contextlib.suppress(aioredis.RedisError, asyncio.CancelledError):
            await self._redis.zrem(subscribers_key(server), *members)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _subscribe(self, server: str, members: Iterable[str]) -> None:
        with contextlib.suppress(aioredis.RedisError):
            await self._redis.zadd(subscribers_key(server), dict.fromkeys(members, time.time() + subscriptions.TTL))

    async def _refresh(self) -> None:
        while self._members:
            await asyncio.sleep(subscriptions.REFRESH)
            for server, members in list(self._members.items()):
                await self._subscribe(server, tuple(members))


class Streams:
    """``stream_ticks`` and ``stream_trades`` as blocking generators, for threads."""

    settings: Settings

    def stream_ticks(
        self, server: str, symbols: str | Iterable[str], since: Since = None
    ) -> Generator[dict[str, Any], None, None]:
        """:meth:`AsyncStreams.stream_ticks`, blocking: ``for tick in client.stream_ticks(...)``."""
        sources = tick_sources(server, symbols, since)
        names = [s.symbol for s in sources if s.symbol]
        subscriber, since_ms = subscriptions.subscriber_id(), wanted_from(sources)
        client = self._stream_client(self.settings.effective_redis_url)
        refreshed = [0.0]

        def refresh() -> None:
            if time.monotonic() - refreshed[0] >= subscriptions.REFRESH:
                subscriptions.subscribe(client, server, names, subscriber, since=since_ms)
                refreshed[0] = time.monotonic()

        try:
            yield from follow(client, sources, _tick, block=BLOCK, on_idle=refresh)
        finally:
            with contextlib.suppress(redis.RedisError):
                subscriptions.unsubscribe(client, server, names, subscriber, since=since_ms)
            client.close()

    def stream_trades(self, login: int, since: Since = None) -> Generator[dict[str, Any], None, None]:
        """:meth:`AsyncStreams.stream_trades`, blocking."""
        sources = trade_sources(login, since)
        client = self._stream_client(self.settings.session_store_url)  # the records' Redis
        try:
            yield from follow(client, sources, _trade, block=BLOCK)
        finally:
            client.close()

    @staticmethod
    def _stream_client(url: str) -> redis.Redis:
        return redis.Redis.from_url(url, socket_timeout=BLOCK + 5, socket_connect_timeout=5)
