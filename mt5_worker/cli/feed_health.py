"""``mt5-worker health --feed SERVER``: is a trade server's feed serving fresh data? Redis alone, no task sent.

Healthy when a feed leads (``mt5:feed:leader:{server}``), its status was written within ``STATUS_STALE`` seconds,
and no symbol whose market is open (``open:{symbol}``, the feed's judgement from the symbol's own history) lags
more than ``max_lag`` seconds behind the trade server's now. A symbol whose market is closed may lag as long as
it likes: no ticks is what a closed market sends.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from kombu.utils.url import maybe_sanitize_url

from mt5_worker.settings import Settings
from mt5_worker.streams.keys import leader_key, status_key

STATUS_STALE = 10.0  # seconds without a status write: the leader is gone or hung
DEFAULT_MAX_LAG = 30.0


def check_feed(
    settings: Settings, server: str, max_lag: float = DEFAULT_MAX_LAG, timeout: float = 5.0
) -> dict[str, Any]:
    """The feed's health as a JSON-ready dict: ``healthy``, ``reason``, ``leader``, ``symbols`` (lag, open)."""
    url = settings.effective_redis_url
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True)
    result: dict[str, Any] = {"healthy": False, "feed": server, "reason": None, "leader": None, "symbols": {}}
    try:
        leader: str | None = client.get(leader_key(server))  # type: ignore[assignment]
        status: dict[str, str] = client.hgetall(status_key(server))  # type: ignore[assignment]
    except redis.RedisError as exc:
        result["reason"] = f"redis unreachable at {maybe_sanitize_url(url)}: {type(exc).__name__}"
        return result
    finally:
        client.close()
    result["leader"] = leader
    symbols = [s for s in status.get("symbols", "").split(",") if s]
    for symbol in symbols:
        lag, open_ = status.get(f"lag:{symbol}"), status.get(f"open:{symbol}")
        result["symbols"][symbol] = {"lag_seconds": float(lag) if lag else None,
                                     "market_open": None if open_ is None else open_ == "1"}  # fmt: skip
    age = time.time() - float(status["updated"]) if status.get("updated") else None
    stale = [s for s, v in result["symbols"].items()
             if v["market_open"] and v["lag_seconds"] is not None and v["lag_seconds"] > max_lag]  # fmt: skip
    if leader is None:
        result["reason"] = f"no feed leads {server} (mt5:feed:leader:{server} is not held)"
    elif age is None or age > STATUS_STALE:
        result["reason"] = f"the leading feed has not written its status for {age or float('inf'):.0f} s"
    elif stale:
        result["reason"] = f"stale while the market is open: {', '.join(stale)} (lag over {max_lag:g} s)"
    else:
        result["healthy"] = True
    return result
