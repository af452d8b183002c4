"""The market data feeds as Redis knows them: each trade server's leading feed and what it last wrote.

``mt5:feed:leader:<server>`` holds the leading feed's id and expires with its lease; ``mt5:feed:status:<server>``
is the leader's hash: ``leader``, ``updated`` (Unix seconds), ``symbols`` (comma-separated), ``lag:<symbol>``
(seconds), ``open:<symbol>`` (1/0) (:mod:`~mt5_worker.streams.keys`). What ``mt5-worker status`` shows; no feed
running is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from mt5_worker.streams import keys


@dataclass(frozen=True)
class FeedView:
    server: str
    leader: str | None  # the feed holding the lease now (None: no leader)
    lease_left: float | None  # seconds until its lease runs out
    updated: float | None  # when the leader last wrote its status
    lags: dict[str, float | None]  # symbol -> seconds behind the terminal (None: not reported)
    open: dict[str, bool] = field(default_factory=dict)  # symbol -> its market open, as the feed judges it


def read_feeds(client: redis.Redis) -> list[FeedView]:
    """Every server with a feed leader or a feed status in Redis; empty when no feed runs."""
    servers: set[str] = set()
    for key_of in (keys.leader_key, keys.status_key):
        head = key_of("")
        servers |= {_s(key)[len(head) :] for key in client.scan_iter(match=f"{_glob(head)}*", count=1000)}
    feeds = []
    for server in sorted(servers):
        pipe = client.pipeline(transaction=False)
        pipe.get(keys.leader_key(server))
        pipe.pttl(keys.leader_key(server))
        pipe.hgetall(keys.status_key(server))
        leader, pttl, raw = pipe.execute()
        fields = {_s(k): _s(v) for k, v in raw.items()}
        symbols = [s for s in fields.get("symbols", "").split(",") if s]
        symbols += sorted(k[4:] for k in fields if k.startswith("lag:") and k[4:] not in symbols)
        feeds.append(
            FeedView(
                server=server,
                leader=_s(leader) if leader is not None else None,
                lease_left=pttl / 1000 if leader is not None and pttl > 0 else None,
                updated=_float(fields.get("updated")),
                lags={symbol: _float(fields.get(f"lag:{symbol}")) for symbol in symbols},
                open={symbol: fields[f"open:{symbol}"] == "1" for symbol in symbols if f"open:{symbol}" in fields},
            )
        )
    return feeds


def _s(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _glob(text: str) -> str:
    """``text`` as a literal in a Redis MATCH pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
