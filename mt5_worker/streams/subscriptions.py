"""Who wants which symbols: subscriptions a feed serves besides its fixed symbols, each a lease in Redis.

A subscriber (an iterator of the clients, a web service's reader) adds ``{symbol}\\n{subscriber}`` to
``mt5:streams:subscribers:{server}`` with the time it lapses as its score, and refreshes it well before then;
closing the iterator removes it, and a process that dies leaves a member that lapses by itself. A feed serves the
symbols of the members not lapsed, and removes lapsed ones (:func:`live_symbols`).

A subscriber reading from a time or an entry (``since``) adds ``{symbol}\\n{subscriber}\\n{since_ms}``: a feed
that starts serving the symbol then begins its empty stream at that millisecond's second (within the retention),
not at the symbol's last quote, which may be later already; a stream only grows at its end, so what it does not
begin with it never holds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping

import redis

from mt5_worker.streams.keys import subscribers_key

TTL = 15.0  # seconds a subscription lasts unless refreshed
REFRESH = 5.0  # seconds between refreshes: two can fail before it lapses


def subscriber_id() -> str:
    """A fresh subscriber's name: unique, and carrying nothing about who subscribes."""
    return uuid.uuid4().hex


def members(symbols: Iterable[str], subscriber: str, since: Mapping[str, int] | None = None) -> list[str]:
    """The members of ``subscriber``'s subscriptions to ``symbols``; ``since``: the first millisecond it reads of
    each symbol it reads from a time or an entry (epoch ms), by symbol."""
    since = since or {}
    return [f"{symbol}\n{subscriber}" + (f"\n{since[symbol]}" if symbol in since else "") for symbol in symbols]


def symbol_of(member: str) -> str:
    return member.split("\n", 1)[0]


def wanted_from(listed: Iterable[str]) -> dict[str, int]:
    """The earliest millisecond some subscriber reads of each symbol, among the members that say one."""
    earliest: dict[str, int] = {}
    for member in listed:
        parts = member.split("\n")
        if len(parts) == 3 and parts[2].isascii() and parts[2].isdigit():
            earliest[parts[0]] = min(int(parts[2]), earliest.get(parts[0], int(parts[2])))
    return earliest


def subscribe(
    client: redis.Redis, server: str, symbols: Iterable[str], subscriber: str, ttl: float = TTL,
    since: Mapping[str, int] | None = None,
) -> None:  # fmt: skip
    """Add or refresh ``subscriber``'s subscriptions to ``symbols`` (read from ``since``, by symbol)."""
    until = time.time() + ttl
    client.zadd(subscribers_key(server), dict.fromkeys(members(symbols, subscriber, since), until))


def unsubscribe(
    client: redis.Redis, server: str, symbols: Iterable[str], subscriber: str, since: Mapping[str, int] | None = None
) -> None:
    listed = members(symbols, subscriber, since)
    if listed:
        client.zrem(subscribers_key(server), *listed)


def live(client: redis.Redis, server: str, now: float | None = None) -> list[str]:
    """The subscriptions not lapsed (``{symbol}\n{subscriber}``); lapsed ones are removed on the way."""
    now = time.time() if now is None else now
    key = subscribers_key(server)
    pipe = client.pipeline(transaction=False)
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.zrangebyscore(key, now, "+inf")
    _, found = pipe.execute()
    return [m.decode() if isinstance(m, bytes) else m for m in found]


def live_symbols(client: redis.Redis, server: str, now: float | None = None) -> set[str]:
    """The symbols someone subscribes to now."""
    return {symbol_of(member) for member in live(client, server, now)}
