"""The Redis keys of the live streams: names other services read directly (docs/streams.md), so they never change.

- ``mt5:ticks:{server}:{symbol}``: one entry per tick, entry ID ``{time_msc}-{n}`` (``n``: the tick's place among
  the ticks of its millisecond);
- ``mt5:bars:{server}:{symbol}:M1``: the forming and closed M1 bars built from the same ticks;
- ``mt5:trades:{login}``: one entry per ``mt5.order_send`` outcome;
- ``mt5:streams:horizon``: hash, stream key -> the first millisecond it still holds (older entries were trimmed),
  what readers compare ``since`` with to report a gap;
- ``mt5:streams:subscribers:{server}``: sorted set, member ``{symbol}\\n{subscriber}`` (``\\n{since_ms}`` after
  it for a reader from a time), score = when the subscription lapses unless refreshed (epoch seconds): the symbols
  a feed serves besides its fixed ones, and where a stream it starts for them begins;
- ``mt5:feed:leader:{server}`` (the leading feed's id, a lease) and ``mt5:feed:status:{server}`` (hash: ``leader``,
  ``updated``, ``symbols``, ``lag:{symbol}``): what ``mt5-worker status`` and the metrics read.

Server and symbol names go into keys as they are: Redis keys are binary-safe, and both are short names without
spaces on every broker (the symbol pattern of ``manager.market_requests``).
"""

from __future__ import annotations

PREFIX = "mt5"
HORIZON_KEY = f"{PREFIX}:streams:horizon"
BAR_TIMEFRAME = "M1"


def ticks_key(server: str, symbol: str) -> str:
    return f"{PREFIX}:ticks:{server}:{symbol}"


def bars_key(server: str, symbol: str) -> str:
    return f"{PREFIX}:bars:{server}:{symbol}:{BAR_TIMEFRAME}"


def trades_key(login: int) -> str:
    return f"{PREFIX}:trades:{login}"


def subscribers_key(server: str) -> str:
    return f"{PREFIX}:streams:subscribers:{server}"


def leader_key(server: str) -> str:
    return f"{PREFIX}:feed:leader:{server}"


def status_key(server: str) -> str:
    return f"{PREFIX}:feed:status:{server}"
