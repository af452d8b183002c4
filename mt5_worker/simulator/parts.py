"""What the simulated terminal's sides share: the state they read, the hooks they call, the argument parsing.

:class:`~mt5_worker.simulator.terminal.SimulatedTerminal` is :class:`~mt5_worker.simulator.market_side.MarketSide`,
:class:`~mt5_worker.simulator.account_side.AccountSide` and
:class:`~mt5_worker.simulator.trading_side.TradingSide` together; each side inherits :class:`SimulatorParts`, so
this class comes last in the terminal's method resolution order. Its stubs therefore never hide an implementation,
whether the terminal's own or another side's, and they let each side be type-checked alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sized
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, TypeVar

from mt5_worker.codes import RES_E_INVALID_PARAMS, error_tuple
from mt5_worker.simulator.ledger import Ledger
from mt5_worker.simulator.market import Market
from mt5_worker.simulator.specs import BULK_ROWS_PER_LATENCY, AccountSpec
from mt5_worker.simulator.trade_rules import Desk, Figures
from mt5_worker.simulator.trade_store import AccountState, TradeStore
from mt5_worker.terminal.functions import BY_NAME, REQUIRED
from mt5_worker.terminal.records import TradeRequest

# Argument errors of the data functions (RES_E_INVALID_PARAMS). The count message is the wheel's (initialize's);
# the keyword one is what peers report for a date passed by keyword. Neither is verified for every function.
INVALID_ARGUMENT_COUNT = "Invalid number of arguments"
INVALID_KEYWORD_ARGUMENTS = "Invalid parameters"
NO_VALUE: Any = object()  # an optional argument the caller left out

_Rows = TypeVar("_Rows", bound=Sized)


class SimulatorParts:
    """The base of every side of the simulated terminal."""

    # The terminal's state (SimulatedTerminal.__init__ sets each of these).
    _active: AccountSpec | None
    _connected: bool
    _error: tuple[int, str]
    _clock: Callable[[], float]
    _sleep: Callable[[float], None]
    _latency: dict[str, float]
    _market_seed: int
    _tick_rate: float | None
    _maxbars: int
    _markets: dict[str, Market]
    _selected: dict[str, set[str]]
    _books: set[tuple[str, str]]
    _ledgers: dict[tuple[str, int, int, bool], Ledger]
    # Per account (server, login), the last of: book()'s merge (generated, store's, merged); figures() (merged
    # book, since, until, figures).
    _merges: dict[tuple[str, int], tuple[Ledger, AccountState, Ledger]]
    _figures: dict[tuple[str, int], tuple[Ledger, int, int, Figures]]
    _store: TradeStore
    _algo_trading: bool
    _deviations: frozenset[str]
    _request_ids: itertools.count[int]

    # --- hooks: SimulatedTerminal or one of the sides implements each ---

    @property
    def market(self) -> Market | None:
        raise NotImplementedError

    def now_ms(self) -> int:
        raise NotImplementedError

    def ledger(self, *, history: bool = True) -> Ledger | None:
        raise NotImplementedError

    def book(self, *, history: bool = True) -> tuple[Ledger, AccountState] | None:
        raise NotImplementedError

    def desk(self) -> Desk | None:
        raise NotImplementedError

    def _trade_request(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TradeRequest | None:
        raise NotImplementedError

    def _call(self, name: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _unavailable(self, name: str) -> bool:
        raise NotImplementedError

    def _rejects_arguments(self, **arguments: tuple[object, object]) -> bool:
        raise NotImplementedError

    def _after_fault(self, name: str) -> bool:
        raise NotImplementedError

    # --- shared by the sides ---

    def _data_arguments(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any] | None:
        """The SDK's parsing of a data function's arguments, by its declaration in the SDK table, after the
        connection check: the positional parameters' values in order (``NO_VALUE`` for an omitted optional one;
        keyword-only filters stay in ``kwargs``), or ``None`` with the error set."""
        if self._unavailable(name):
            return None
        spec = BY_NAME[name]
        unnamed = set(kwargs) - set(spec.keywords)
        accepted = unnamed & {"date_from", "date_to"} if "keyword-dates-accepted" in self._deviations else set()
        if unnamed - accepted:
            self._error = error_tuple(RES_E_INVALID_PARAMS, INVALID_KEYWORD_ARGUMENTS)
            return None
        names = [p.name for p in spec.positional]
        required = sum(1 for p in spec.positional if p.default is REQUIRED)
        if not required <= len(args) + len(accepted) <= len(names):
            self._error = error_tuple(RES_E_INVALID_PARAMS, INVALID_ARGUMENT_COUNT)
            return None
        values = list(args) + [NO_VALUE] * (len(names) - len(args))
        for i, key in enumerate(names):
            if key in kwargs:
                if values[i] is not NO_VALUE:  # given twice
                    self._error = error_tuple(RES_E_INVALID_PARAMS, INVALID_ARGUMENT_COUNT)
                    return None
                values[i] = kwargs[key]
        return values

    def _invalid(self, argument: str) -> None:
        self._error = error_tuple(RES_E_INVALID_PARAMS, f'Invalid "{argument}" argument')

    def _bulk(self, name: str, rows: _Rows) -> _Rows:
        """A bulk copy (rates, ticks, history) costs its function's latency again for every
        ``BULK_ROWS_PER_LATENCY`` rows."""
        delay = self._latency.get(name, 0.0) * len(rows) / BULK_ROWS_PER_LATENCY
        if delay:
            self._sleep(delay)
        return rows


def seconds(value: datetime | int) -> int:
    """A date argument as epoch seconds: ints as they are; a datetime by its ``timestamp()`` (so a naive one is
    read in the local time zone, as the SDK's pages warn)."""
    return int(value.timestamp()) if isinstance(value, datetime) else int(value)
