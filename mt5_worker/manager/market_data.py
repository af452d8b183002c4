"""Typed market-data reads of one account through its manager, answered as JSON-ready values.

Each read validates its arguments (:mod:`~mt5_worker.manager.market_requests`), then makes the account active and
calls the port through :meth:`MT5ConnectionManager.run` (logged, failures typed, retried by the caller as
every other request). Answers: records (field name -> value) for the SDK's named tuples; rates and ticks
column-wise (``{"time": [...], "open": [...], ...}``), times as epoch seconds (``time_msc`` in milliseconds),
plain Python numbers, never numpy types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from mt5_worker.errors import InvalidRequestError
from mt5_worker.manager import market_requests as req
from mt5_worker.manager.connection_manager import MT5ConnectionManager

if TYPE_CHECKING:  # arrays come from the terminal; the manager itself never needs numpy
    from mt5_worker.terminal.arrays import Records


def record(value: NamedTuple) -> dict[str, Any]:
    """A named tuple as a JSON object, numpy scalars turned into Python numbers."""
    return {k: _python(v) for k, v in value._asdict().items()}


def _python(value: Any) -> Any:
    # A numpy scalar (an adapter may pass one on) has .item(); checking its module spares importing numpy here.
    return value.item() if type(value).__module__ == "numpy" else value


def columns(array: Records) -> dict[str, list[Any]]:
    """A structured array column-wise, as lists of Python numbers (``tolist`` converts each element)."""
    names = array.dtype.names or ()
    return {name: array[name].tolist() for name in names}


class MarketData:
    """Market reads for any account of one terminal. ``max_rows`` is ``MT5_MAX_ROWS``; ``columns`` makes the
    column-wise answer of an array (the worker's keeps numpy columns its JSON codec writes as these lists).

    >>> market = MarketData(manager, max_rows=100_000)
    >>> market.rates(10000001, "EURUSD", "M1", start_pos=0, count=3)["close"]
    [1.08412, 1.08417, 1.08409]
    """

    def __init__(
        self, manager: MT5ConnectionManager, max_rows: int, columns: Callable[[Records], dict[str, Any]] = columns
    ) -> None:
        self.manager = manager
        self.max_rows = max_rows
        self.columns = columns

    def symbols(self, login: Any, group: Any = None, **account: Any) -> list[dict[str, Any]]:
        """``symbols_get()``, or ``symbols_get(group=mask)``: the symbols' ``SymbolInfo`` records."""
        if group is None:
            found = self.manager.run(login, "symbols_get", **account)
        else:
            found = self.manager.run(login, "symbols_get", group=req.mask(group), **account)
        return [record(s) for s in found]

    def symbol_info(self, login: Any, symbol: Any, **account: Any) -> dict[str, Any]:
        return record(self.manager.run(login, "symbol_info", req.symbol(symbol), **account))

    def symbol_tick(self, login: Any, symbol: Any, **account: Any) -> dict[str, Any]:
        """``symbol_info_tick``: the last ``Tick``."""
        return record(self.manager.run(login, "symbol_info_tick", req.symbol(symbol), **account))

    def rates(
        self,
        login: Any,
        symbol: Any,
        timeframe: Any,
        *,
        start_pos: Any = None,
        date_from: Any = None,
        date_to: Any = None,
        count: Any = None,
        **account: Any,
    ) -> dict[str, Any]:
        """Bars by one of the SDK's three forms: ``start_pos`` + ``count``, ``date_from`` + ``count``, or
        ``date_from`` + ``date_to``."""
        series = req.rates(
            symbol, timeframe, start_pos_=start_pos, date_from=date_from, date_to=date_to, count_=count,
            max_rows=self.max_rows,
        )  # fmt: skip
        return self._series(login, series, account)

    def ticks(
        self,
        login: Any,
        symbol: Any,
        *,
        date_from: Any = None,
        date_to: Any = None,
        count: Any = None,
        flags: Any = "all",
        **account: Any,
    ) -> dict[str, Any]:
        """Ticks by ``date_from`` + ``count`` or ``date_from`` + ``date_to``; ``flags``: all, info or trade."""
        series = req.ticks(symbol, date_from=date_from, date_to=date_to, count_=count, flags=flags,
                           max_rows=self.max_rows)  # fmt: skip
        return self._series(login, series, account)

    def market_book(self, login: Any, symbol: Any, **account: Any) -> list[dict[str, Any]]:
        """The depth of market: subscribed, read and released within one hold of the terminal."""
        name = req.symbol(symbol)
        with self.manager.acquire(login, **account) as call:
            call("market_book_add", name)
            try:
                book = call("market_book_get", name)
            finally:
                call("market_book_release", name)
        return [record(level) for level in book]

    def _series(self, login: Any, series: req.SeriesRequest, account: dict[str, Any]) -> dict[str, Any]:
        array = self.manager.run(login, series.function, *series.args, **account)
        if len(array) > self.max_rows:  # only a date range can return more than was asked for
            raise InvalidRequestError(
                f"the range holds {len(array)} rows, more than MT5_MAX_ROWS ({self.max_rows}): narrow it "
                "(an earlier date_to) or page through it with date_from + count"
            )
        return self.columns(array)
