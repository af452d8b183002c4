"""A deterministic simulated market: symbols, ticks, bars and a Depth of Market, as pure functions of time.

Nothing is stored. Every price is a pure function of ``(seed, symbol, time)``, so any range of ticks or bars can
be produced on demand, in any order, and is the same every time it is asked for. Three levels, each pinned by the
one above it so that they always agree:

- **hours**: each trading hour has an open (a smooth "anchor" curve of hashed value noise at several scales,
  which behaves like a random walk up to months and stays bounded beyond), a close near the next hour's anchor,
  and a high and a low drawn around them; its tick count and minimum spread are drawn too. H1 and longer bars
  aggregate hours, so ten years of D1 bars need no ticks at all.
- **minutes**: a Brownian bridge from the hour's open to its close, at minute resolution, clipped to the hour's
  range; each minute has an open, a close, a high and a low (the minutes named by the hour hold its high and
  low), a tick count (at least 4, summing to the hour's) and a minimum spread (the hour's, in one of them).
- **ticks**: within a minute, a Brownian bridge through the minute's open (the first tick, exactly at the minute's
  first millisecond), its high and low (at drawn positions) and its close (the last tick), clipped to that range.
  Ask = Bid + spread; the minute's minimum spread is at the tick that holds its high.

So an M1 bar's OHLC, tick volume and spread are exactly those of its ticks, and every longer bar's are those of
its minutes. Ticks exist only at or before "now" (the caller's clock): the current bar is built from the ticks so
far. Bars are Bid bars (``chart_mode`` 0); the bar ``spread`` is the smallest spread of its ticks.

**Time.** Every time here is epoch seconds (or milliseconds) in the trade server's time zone, which for the
simulated servers is UTC: server time == UTC. Sessions: Sunday 22:00 to Friday 22:00 for FX, metals and the index,
every hour for crypto; no holidays. History starts on 2015-01-01 00:00.

The package, one concept a module (the names other modules import are re-exported here):

- :mod:`.noise`: counter-based random numbers (hash streams);
- :mod:`.symbols`: the symbols' contracts and price parameters (``SymbolSpec``, ``SYMBOLS``);
- :mod:`.sessions`: the trading calendar and history start;
- :mod:`.pieces`: the levels' rows and their aggregation into bars;
- :mod:`.shape`: the market's rhythm: activity by hour, the rollover's spread, tick bursts, the anchor's scales;
- :mod:`.prices`: one symbol's hours, minutes, ticks and bars (``SymbolMarket``);
- :mod:`.bars`: which bars exist at a moment (``BarIndex``);
- :mod:`.trade_server`: one trade server's market, its book, ``SymbolInfo`` and rates (``Market``).
"""

from mt5_worker.simulator.market.bars import BarIndex
from mt5_worker.simulator.market.calendar import HISTORY_START, Calendar
from mt5_worker.simulator.market.noise import stable_hash
from mt5_worker.simulator.market.pieces import Hours, Minutes, Pieces
from mt5_worker.simulator.market.prices import MIN_TICKS_PER_HOUR, MIN_TICKS_PER_MINUTE, SymbolMarket
from mt5_worker.simulator.market.symbols import SYMBOLS, SymbolSpec
from mt5_worker.simulator.market.trade_server import BOOK_LEVELS, Market

__all__ = [
    "BOOK_LEVELS",
    "HISTORY_START",
    "MIN_TICKS_PER_HOUR",
    "MIN_TICKS_PER_MINUTE",
    "SYMBOLS",
    "BarIndex",
    "Calendar",
    "Hours",
    "Market",
    "Minutes",
    "Pieces",
    "SymbolMarket",
    "SymbolSpec",
    "stable_hash",
]
