"""The simulated terminal's market side: ``symbols_*``, ``symbol_*``, ``market_book_*`` and ``copy_*``.

A mixin of :class:`~mt5_worker.simulator.terminal.SimulatedTerminal` (which supplies the connection, the call
accounting and the active account), as :mod:`~mt5_worker.simulator.account_side` is for the account side; the
argument parsing every data function shares is :mod:`~mt5_worker.simulator.parts`. It serves the active
account's trade server's :class:`~mt5_worker.simulator.market.Market` (a deterministic function of the server's
name, ``market_seed`` and time); "now" is the ``clock``. Argument rules and failures: docs/sdk-market-data.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from mt5_worker.codes import RES_E_FAIL, RES_E_NOT_FOUND, error_tuple
from mt5_worker.simulator.market import Market, SymbolMarket
from mt5_worker.simulator.masks import select
from mt5_worker.simulator.parts import NO_VALUE, SimulatorParts, seconds
from mt5_worker.terminal import constants as mt5c
from mt5_worker.terminal.arrays import TICKS_DTYPE, Records
from mt5_worker.terminal.functions import BY_NAME
from mt5_worker.terminal.records import BookInfo, SymbolInfo, Tick


class MarketSide(SimulatorParts):
    """The market data functions of the simulator."""

    @property
    def market(self) -> Market | None:
        """The active account's trade server's market (``None`` without an authorised account)."""
        if self._active is None or not self._connected:
            return None
        server = self._active.server
        market = self._markets.get(server)
        if market is None:
            market = self._markets[server] = Market(server, self._market_seed, tick_rate=self._tick_rate)
            self._selected[server] = {spec.name for spec in market.specs if spec.selected}
        return market

    def now_ms(self) -> int:
        """The simulated terminal's "now" in epoch milliseconds (server time)."""
        return int(self._clock() * 1000)

    def symbols_total(self) -> int | None:
        with self._call("symbols_total"):
            if self._unavailable("symbols_total"):
                return None
            market = self.market
            return 0 if market is None else len(market.names)

    def symbols_get(self, *args: Any, **kwargs: Any) -> tuple[SymbolInfo, ...] | None:
        with self._call("symbols_get"):
            values = self._data_arguments("symbols_get", args, kwargs)
            if values is None:
                return None
            (group,) = values
            if group is not NO_VALUE and self._rejects_arguments(group=(group, str)):
                return None
            market = self.market
            if market is None:
                return ()
            names = market.names if group is NO_VALUE else select(group, market.names)
            now = self.now_ms()
            return tuple(self._symbol_info(market, name, now) for name in names)

    def symbol_info(self, *args: Any, **kwargs: Any) -> SymbolInfo | None:
        with self._call("symbol_info"):
            found = self._symbol_argument("symbol_info", args, kwargs)
            if found is None:
                if "unknown-symbol-code" in self._deviations and self._error[0] == RES_E_NOT_FOUND:
                    self._error = error_tuple(RES_E_FAIL)
                return None
            market, symbol = found
            return self._symbol_info(market, symbol.spec.name, self.now_ms())

    def symbol_info_tick(self, *args: Any, **kwargs: Any) -> Tick | None:
        with self._call("symbol_info_tick"):
            found = self._symbol_argument("symbol_info_tick", args, kwargs)
            if found is None:
                return None
            market, symbol = found
            if symbol.spec.name not in self._selected[market.server]:
                self._error = error_tuple(RES_E_FAIL)  # not in Market Watch: no live ticks
                return None
            return market.tick(symbol.spec.name, self.now_ms()) or Tick(0, 0.0, 0.0, 0.0, 0, 0, 0, 0.0)

    def symbol_select(self, *args: Any, **kwargs: Any) -> bool:
        with self._call("symbol_select"):
            values = self._data_arguments("symbol_select", args, kwargs)
            if values is None:
                return False
            symbol, enable = values
            enable = True if enable is NO_VALUE else enable
            if self._rejects_arguments(symbol=(symbol, str)):
                return False
            if not isinstance(enable, int):  # a bool (or an int, as a switch)
                self._invalid("enable")
                return False
            market = self.market
            if market is None or market.get(symbol) is None:
                self._error = error_tuple(RES_E_NOT_FOUND)
                return False
            if enable:
                self._selected[market.server].add(symbol)
            else:
                self._selected[market.server].discard(symbol)
                self._books.discard((market.server, symbol))
            return True

    def market_book_add(self, *args: Any, **kwargs: Any) -> bool:
        with self._call("market_book_add"):
            found = self._symbol_argument("market_book_add", args, kwargs)
            if found is None:
                return False
            market, symbol = found
            self._selected[market.server].add(symbol.spec.name)  # the terminal selects a symbol it subscribes to
            self._books.add((market.server, symbol.spec.name))
            return True

    def market_book_get(self, *args: Any, **kwargs: Any) -> tuple[BookInfo, ...] | None:
        with self._call("market_book_get"):
            found = self._symbol_argument("market_book_get", args, kwargs)
            if found is None:
                return None
            market, symbol = found
            if (market.server, symbol.spec.name) not in self._books:
                self._error = error_tuple(RES_E_FAIL)  # no market_book_add() first
                return None
            return market.book(symbol.spec.name, self.now_ms())

    def market_book_release(self, *args: Any, **kwargs: Any) -> bool:
        with self._call("market_book_release"):
            found = self._symbol_argument("market_book_release", args, kwargs)
            if found is None:
                return False
            market, symbol = found
            if (market.server, symbol.spec.name) not in self._books:
                self._error = error_tuple(RES_E_FAIL)
                return False
            self._books.discard((market.server, symbol.spec.name))
            return True

    def copy_rates_from(self, *args: Any, **kwargs: Any) -> Records | None:
        with self._call("copy_rates_from"):
            parsed = self._rates_arguments("copy_rates_from", args, kwargs)
            if parsed is None:
                return None
            market, symbol, timeframe, (date_from, count) = parsed
            window = market.rates_window(symbol.spec.name, timeframe, self.now_ms(), self._maxbars)
            oldest = window.oldest
            if oldest is None or date_from < oldest:
                self._no_data()
                return None
            return self._rates(symbol, timeframe, window.up_to(date_from, count), "copy_rates_from")

    def copy_rates_from_pos(self, *args: Any, **kwargs: Any) -> Records | None:
        with self._call("copy_rates_from_pos"):
            parsed = self._rates_arguments("copy_rates_from_pos", args, kwargs)
            if parsed is None:
                return None
            market, symbol, timeframe, (start_pos, count) = parsed
            window = market.rates_window(symbol.spec.name, timeframe, self.now_ms(), self._maxbars)
            if start_pos >= window.count:
                self._no_data()
                return None
            return self._rates(symbol, timeframe, window.by_position(start_pos, count), "copy_rates_from_pos")

    def copy_rates_range(self, *args: Any, **kwargs: Any) -> Records | None:
        with self._call("copy_rates_range"):
            parsed = self._rates_arguments("copy_rates_range", args, kwargs)
            if parsed is None:
                return None
            market, symbol, timeframe, (date_from, date_to) = parsed
            window = market.rates_window(symbol.spec.name, timeframe, self.now_ms(), self._maxbars)
            oldest = window.oldest
            if oldest is None or date_to < oldest:
                self._no_data()
                return None
            return self._rates(symbol, timeframe, window.between(date_from, date_to), "copy_rates_range")

    def copy_ticks_from(self, *args: Any, **kwargs: Any) -> Records | None:
        with self._call("copy_ticks_from"):
            parsed = self._ticks_arguments("copy_ticks_from", args, kwargs)
            if parsed is None:
                return None
            symbol, (date_from, count, flags) = parsed
            ticks = symbol.ticks_from(date_from * 1000, count if flags != mt5c.COPY_TICKS_TRADE else 0, self.now_ms())
            return self._bulk("copy_ticks_from", _filter_ticks(ticks, flags))

    def copy_ticks_range(self, *args: Any, **kwargs: Any) -> Records | None:
        with self._call("copy_ticks_range"):
            parsed = self._ticks_arguments("copy_ticks_range", args, kwargs)
            if parsed is None:
                return None
            symbol, (date_from, date_to, flags) = parsed
            if "tick-range-skips-first-second" in self._deviations:
                date_from += 1
            if flags == mt5c.COPY_TICKS_TRADE:
                return np.zeros(0, dtype=TICKS_DTYPE)
            ticks = symbol.ticks_between(date_from * 1000, date_to * 1000, self.now_ms())
            return self._bulk("copy_ticks_range", _filter_ticks(ticks, flags))

    # --- market internals ---

    def _symbol_argument(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Market, SymbolMarket] | None:
        """The one positional ``symbol`` of a symbol function, looked up: unknown is ``(-4, 'Terminal: Not found')``."""
        values = self._data_arguments(name, args, kwargs)
        if values is None or self._rejects_arguments(symbol=(values[0], str)):
            return None
        market = self.market
        symbol = None if market is None else market.get(values[0])
        if market is None or symbol is None:
            self._error = error_tuple(RES_E_NOT_FOUND)
            return None
        return market, symbol

    def _rates_arguments(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Market, SymbolMarket, int, tuple[int, int]] | None:
        rest = _rest(name, 2)
        values = self._data_arguments(name, args, kwargs)
        if values is None:
            return None
        symbol, timeframe, first, second = values
        checks: dict[str, tuple[object, object]] = {"symbol": (symbol, str), "timeframe": (timeframe, int)}
        for key, value in zip(rest, (first, second), strict=True):
            checks[key] = (value, datetime | int) if key.startswith("date") else (value, int)
        if self._rejects_arguments(**checks):
            return None
        if timeframe not in mt5c.TIMEFRAMES:
            self._invalid("timeframe")
            return None
        if rest[1] == "count" and second < 1:
            self._invalid("count")
            return None
        if rest[0] == "start_pos" and first < 0:
            self._invalid("start_pos")
            return None
        market, found = self._data_symbol(symbol)
        if market is None or found is None:
            return None
        return market, found, timeframe, (seconds(first), seconds(second))

    def _ticks_arguments(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[SymbolMarket, tuple[int, int, int]] | None:
        rest = _rest(name, 1)
        values = self._data_arguments(name, args, kwargs)
        if values is None:
            return None
        symbol, date_from, second, flags = values
        second_type: object = datetime | int if rest[1] == "date_to" else int
        if self._rejects_arguments(
            symbol=(symbol, str),
            date_from=(date_from, datetime | int),
            **{rest[1]: (second, second_type)},
            flags=(flags, int),
        ):
            return None
        if rest[1] == "count" and second < 1:
            self._invalid("count")
            return None
        if flags not in _COPY_TICKS_FLAGS:
            self._invalid("flags")
            return None
        _, found = self._data_symbol(symbol)
        if found is None:
            return None
        return found, (seconds(date_from), seconds(second), flags)

    def _data_symbol(self, symbol: str) -> tuple[Market | None, SymbolMarket | None]:
        """A data function's symbol: an unknown one fails the call with ``(-1, 'Terminal: Call failed')``."""
        market = self.market
        found = None if market is None else market.get(symbol)
        if found is None:
            self._error = error_tuple(RES_E_FAIL)
        return market, found

    def _no_data(self) -> None:
        """Bars outside the history the terminal holds (before the oldest of its last ``maxbars``)."""
        self._error = error_tuple(RES_E_FAIL)
        return None

    def _rates(self, symbol: SymbolMarket, timeframe: int, bars: tuple[Any, Any], name: str) -> Records:
        starts, ends = bars
        return self._bulk(name, symbol.rates(timeframe, starts, ends, self.now_ms()))

    def _symbol_info(self, market: Market, name: str, now_ms: int) -> SymbolInfo:
        currency = self._active.currency if self._active is not None else "USD"
        return market.symbol_info(
            name, now_ms, selected=name in self._selected[market.server], account_currency=currency
        )


_COPY_TICKS_FLAGS = frozenset(
    {mt5c.COPY_TICKS_ALL, mt5c.COPY_TICKS_INFO, mt5c.COPY_TICKS_TRADE, mt5c.COPY_TICKS_INFO | mt5c.COPY_TICKS_TRADE}
)


def _rest(name: str, first: int) -> tuple[str, ...]:
    """The names of a copy function's positional parameters after the first ``first`` (its form)."""
    return tuple(p.name for p in BY_NAME[name].positional[first:])


def _filter_ticks(ticks: Records, flags: int) -> Records:
    """COPY_TICKS_INFO keeps ticks that changed Bid or Ask; COPY_TICKS_TRADE those that changed Last or Volume
    (the simulated symbols have none); COPY_TICKS_ALL (or both bits) keeps every tick."""
    kept: Records = ticks
    if flags == mt5c.COPY_TICKS_INFO:
        kept = ticks[(ticks["flags"] & (mt5c.TICK_FLAG_BID | mt5c.TICK_FLAG_ASK)) != 0]
    elif flags == mt5c.COPY_TICKS_TRADE:
        kept = ticks[(ticks["flags"] & (mt5c.TICK_FLAG_LAST | mt5c.TICK_FLAG_VOLUME)) != 0]
    return kept
