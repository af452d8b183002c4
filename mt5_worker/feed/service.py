"""``mt5-worker feed``: one trade server's market data from a terminal of its own, published to Redis Streams.

The loop, while this feed leads (:mod:`~mt5_worker.feed.lease`): read which symbols to serve (``MT5_FEED_SYMBOLS``
and the live subscriptions), poll each for new ticks (:mod:`~mt5_worker.feed.symbol_feed`), append them and the
M1 bars they make to the symbol's streams, renew the lease, and sleep until the next poll. A feed that takes over
resumes each stream from its last entry and backfills from the terminal's tick history, so a leader killed
mid-burst leaves neither a hole nor a duplicate. Redis unreachable: it waits and, once Redis answers, resumes
from the streams again. The terminal dropping: the manager's retry policy reconnects, and the next poll backfills.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from mt5_worker.errors import MT5Error, PermanentMT5Error, TransientMT5Error
from mt5_worker.feed.lease import Lease
from mt5_worker.feed.symbol_feed import SymbolFeed, start_second
from mt5_worker.logging import get_logger
from mt5_worker.manager.connection_manager import MT5ConnectionManager
from mt5_worker.streams import keys, publisher, subscriptions
from mt5_worker.streams.codec import tick_fields
from mt5_worker.streams.ids import EntryId

STATUS_EVERY = 1.0  # seconds between writes of the feed's status hash
REDIS_WAIT = 0.5  # seconds between tries while Redis does not answer


class FeedAccount:
    """The account a feed reads with: login, password (an investor password will do) and server."""

    def __init__(self, login: int, password: str, server: str) -> None:
        self.login, self.password, self.server = login, password, server

    def __repr__(self) -> str:
        return f"FeedAccount(login=..., server={self.server!r})"  # never the password


class Feed:
    """One feed process's loop (:meth:`run` until ``stop`` is set)."""

    def __init__(
        self,
        manager: MT5ConnectionManager,
        client: redis.Redis,
        account: FeedAccount,
        *,
        symbols: tuple[str, ...] = (),
        poll_interval: float = 0.02,
        lease: float = 3.0,
        retention: int = 3600,
        feed_id: str | None = None,
        observe: Callable[[str, dict[str, Any]], None] = lambda event, fields: None,
    ) -> None:
        self.manager = manager
        self.redis = client
        self.account = account
        self.server = account.server
        self.fixed = symbols
        self.poll_interval = poll_interval
        self.retention_ms = retention * 1000
        self.id = feed_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = Lease(client, keys.leader_key(self.server), self.id, lease)
        self.renew_every = lease / 3
        self.observe = observe  # metrics: ("published", {...}), ("leader", {...}), ("poll", {...})
        self.symbols: dict[str, SymbolFeed] = {}
        # The trade server's clock minus this machine's, as the freshest tick seen says (a time zone, a simulator's
        # offset); the server's "now" for lags, and for which hour's session to check.
        self.skew: float | None = None
        self.subscribers = 0
        self._log = get_logger("mt5_worker.feed").bind(server=self.server, feed=self.id)

    # --- the loop ---

    def run(self, stop: threading.Event) -> None:
        renewed = status_at = 0.0
        failures = 0  # the terminal's consecutive failures: the manager's retry schedule spaces the next tries
        while not stop.is_set():
            started = time.monotonic()
            try:
                if not self.lease.held:
                    if not self._lead():
                        stop.wait(self.renew_every)
                        continue
                    renewed = started
                elif started - renewed >= self.renew_every:
                    if not self.lease.renew():
                        self._step_down("lease taken")
                        continue
                    renewed = started
                behind = self.poll_once()
                if started - status_at >= STATUS_EVERY:
                    self._write_status()
                    status_at = started
            except redis.RedisError as exc:
                self._log.warning("mt5.feed.redis_unavailable", error=type(exc).__name__)
                self._step_down("redis unavailable", release=False)
                stop.wait(REDIS_WAIT)
                continue
            except TransientMT5Error as exc:
                failures += 1
                self._log.warning("mt5.feed.terminal_unavailable", mt5_code=exc.code, mt5_message=exc.message)
                stop.wait(self.manager.retry_policy.compute(failures))
                continue
            failures = 0
            if not behind:
                stop.wait(max(0.0, self.poll_interval - (time.monotonic() - started)))
        self._step_down("stopped")

    def poll_once(self) -> bool:
        """Poll every served symbol once and publish what is new; whether a symbol is still behind."""
        live = subscriptions.live(self.redis, self.server)
        self.subscribers = len(live)
        wanted = set(self.fixed) | {subscriptions.symbol_of(member) for member in live}
        wanted_from = subscriptions.wanted_from(live)
        for gone in set(self.symbols) - wanted:
            del self.symbols[gone]
        behind = False
        with self.manager.acquire(self.account.login, self.account.password, self.account.server) as call:
            for symbol in sorted(wanted):
                feed = self.symbols.get(symbol) or self._resume(symbol, call, wanted_from.get(symbol))
                if feed is None:
                    continue
                self.symbols[symbol] = feed
                try:
                    found = feed.poll(call)
                except PermanentMT5Error as exc:  # this symbol's request was refused: the others go on
                    self._log.warning("mt5.feed.poll_refused", symbol=symbol, mt5_code=exc.code)
                    del self.symbols[symbol]
                    continue
                self._publish(symbol, found.ticks, found.bars)
                behind = behind or found.behind
                if found.ticks:
                    seen = found.ticks[-1][0].ms / 1000 - time.time()
                    self.skew = seen if self.skew is None else max(self.skew, seen)
                if self.skew is not None:
                    feed.check_market(call, time.time() + self.skew)
        return behind

    def lags(self) -> dict[str, float]:
        """Seconds between the trade server's now and each served symbol's last published tick."""
        if self.skew is None:
            return {}
        now_ms = (time.time() + self.skew) * 1000
        return {s: max(0.0, (now_ms - f.last_time_msc) / 1000) for s, f in self.symbols.items()
                if f.last_time_msc is not None}  # fmt: skip

    # --- leadership ---

    def _lead(self) -> bool:
        if not self.lease.acquire():
            return False
        self.symbols.clear()  # every stream resumes from its last entry: another feed may have written since
        self._log.info("mt5.feed.leading")
        self.observe("leader", {"leading": True})
        return True

    def _step_down(self, reason: str, *, release: bool = True) -> None:
        if self.lease.held or not release:
            was = self.lease.held
            if release:
                with contextlib.suppress(redis.RedisError):  # it lapses by itself
                    self.lease.release()
            self.lease.held = False
            if was:
                self._log.info("mt5.feed.standing_by", reason=reason)
                self.observe("leader", {"leading": False})
        self.symbols.clear()

    # --- one symbol ---

    def _resume(self, symbol: str, call: Callable[..., Any], wanted_ms: int | None = None) -> SymbolFeed | None:
        """The symbol's feed from its streams' last entries (its forming bar rebuilt from the ticks stream); an
        empty stream from its last quote, or from ``wanted_ms``, the first tick a subscriber reads, if earlier."""
        try:
            info = call("symbol_info", symbol)
        except MT5Error as exc:
            self._log.warning("mt5.feed.unknown_symbol", symbol=symbol, mt5_code=exc.code)
            return None
        ticks_key = keys.ticks_key(self.server, symbol)
        last = publisher.last_id(self.redis, ticks_key)
        if last is not None and int(info.time) * 1000 - last.ms > self.retention_ms:
            last = None  # served long ago: what retention would trim at once is not backfilled (readers get a gap)
        start_s = start_second(int(info.time), wanted_ms, self.retention_ms)
        feed = SymbolFeed(symbol, float(info.point), last, start_s)
        if last is not None:
            minute_start = last.ms // 60_000 * 60_000
            entries: list[tuple[Any, Any]] = self.redis.xrange(ticks_key, f"{minute_start}-0", str(last))  # type: ignore[assignment]
            feed.replay((EntryId.parse(i), _tick(f)) for i, f in entries)
        self._log.info("mt5.feed.serving", symbol=symbol, resumes_after=str(last) if last else None,
                       starts_at=None if last else start_s)  # fmt: skip
        return feed

    def _publish(self, symbol: str, ticks: list[tuple[EntryId, Any]], bars: list[tuple[EntryId, Any]]) -> None:
        if not ticks:
            return
        written = publisher.append(
            self.redis, keys.ticks_key(self.server, symbol), [(e, tick_fields(t)) for e, t in ticks],
            self.retention_ms,
        )  # fmt: skip
        publisher.append(self.redis, keys.bars_key(self.server, symbol), [(e, b.fields()) for e, b in bars],
                         self.retention_ms)  # fmt: skip
        self.observe("published", {"symbol": symbol, "written": written.written, "duplicates": written.duplicates,
                                   "last_time_msc": ticks[-1][0].ms})  # fmt: skip

    def _write_status(self) -> None:
        status: dict[Any, Any] = {"leader": self.id, "updated": repr(time.time()), "symbols": ",".join(self.symbols)}
        for symbol, lag in self.lags().items():
            status[f"lag:{symbol}"] = round(lag, 3)
        for symbol, feed in self.symbols.items():
            if feed.market_open is not None:
                status[f"open:{symbol}"] = int(feed.market_open)
        pipe = self.redis.pipeline()
        pipe.delete(keys.status_key(self.server))
        pipe.hset(keys.status_key(self.server), mapping=status)
        pipe.execute()


def _tick(fields: Any) -> dict[str, float]:
    return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in fields.items()}
