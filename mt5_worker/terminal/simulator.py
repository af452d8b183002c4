"""An in-process MT5 terminal that behaves like the real one as seen through the port.

Same return shapes and error tuples as the ``MetaTrader5`` module; one active account at a time;
per-function latencies; fault injection (settings or the Python API) and a simulated crash; per-function call
counters and an overlap detector for tests and benchmarks. It remembers the passwords of accounts it has
authorised, as a terminal's saved accounts do, so ``login(n)`` without a password works only after one
successful login with it.

The market side serves the active account's trade server's :class:`~mt5_worker.terminal.market.Market` (a
deterministic function of the server's name, ``market_seed`` and time); "now" is the ``clock`` (epoch seconds,
which the simulated servers also use as server time). The data functions take their arguments as the SDK does
(positional only where its pages say "unnamed"), and fail like it: see docs/sdk-market-data.md.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from mt5_worker.codes import (
    RES_E_AUTH_FAILED,
    RES_E_FAIL,
    RES_E_INTERNAL_FAIL_CONNECT,
    RES_E_INTERNAL_FAIL_SEND,
    RES_E_INVALID_PARAMS,
    RES_E_NOT_FOUND,
    SUCCESS,
    error_tuple,
)
from mt5_worker.terminal import constants as mt5c
from mt5_worker.terminal.ledger import Ledger
from mt5_worker.terminal.market import Market, SymbolMarket
from mt5_worker.terminal.masks import select
from mt5_worker.terminal.port import FUNCTIONS, AccountInfo, TerminalInfo
from mt5_worker.terminal.records import TICKS_DTYPE, BookInfo, Records, SymbolInfo, Tick
from mt5_worker.terminal.simulator_account import AccountSide
from mt5_worker.terminal.specs import BULK_ROWS_PER_LATENCY, AccountSpec, FaultSpec

BUILD = 4755
BUILD_DATE = "20 Nov 2026"
MAXBARS = 100_000  # the terminal's "Max. bars in chart" (terminal_info().maxbars)

# Argument errors of the data functions (RES_E_INVALID_PARAMS). The count message is the wheel's (initialize's);
# the keyword one is what peers report for a date passed by keyword. Neither is verified for every function.
INVALID_ARGUMENT_COUNT = "Invalid number of arguments"
INVALID_KEYWORD_ARGUMENTS = "Invalid parameters"
_NO_VALUE: Any = object()


def _demo_account(login: int, server: str, name: str, balance: float, currency: str = "USD") -> AccountSpec:
    return AccountSpec(
        login=login, password=f"demo-{login}", server=server, name=name, balance=balance, currency=currency
    )


# The built-in accounts when MT5_SIMULATOR_ACCOUNTS is unset; password is "demo-<login>".
DEMO_ACCOUNTS: tuple[AccountSpec, ...] = (
    _demo_account(10000001, "MetaQuotes-Demo", "Alice Demo", 10_000.0),
    _demo_account(10000002, "MetaQuotes-Demo", "Bob Demo", 25_000.0),
    _demo_account(10000003, "MetaQuotes-Demo", "Carol Demo", 5_000.0, "EUR"),
    _demo_account(10000004, "MetaQuotes-Demo", "Dan Demo", 100_000.0),
    _demo_account(10000005, "MetaQuotes-Demo", "Erin Demo", 750.0, "GBP"),
    _demo_account(20000001, "Simulated-Live", "Frank Live", 50_000.0),
    _demo_account(20000002, "Simulated-Live", "Grace Live", 12_500.0, "EUR"),
    _demo_account(20000003, "Simulated-Live", "Heidi Live", 3_300.0),
)


@dataclass
class _Fault:
    spec: FaultSpec
    seen: int = 0


class SimulatedTerminal(AccountSide):
    """A faithful stand-in for the ``MetaTrader5`` module (see module docstring)."""

    backend: ClassVar[str] = "simulator"

    def __init__(
        self,
        accounts: Iterable[AccountSpec] | None = None,
        *,
        latency: Mapping[str, float] | None = None,
        faults: Mapping[str, FaultSpec] | None = None,
        seed: int | None = None,
        crash_every: int = 0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        market_seed: int = 0,
        maxbars: int = MAXBARS,
    ) -> None:
        self._accounts = tuple(accounts) if accounts is not None else DEMO_ACCOUNTS
        self._latency = dict(latency or {})
        self._sleep = sleep
        self._clock = clock
        self._market_seed = market_seed
        self._maxbars = maxbars
        self._markets: dict[str, Market] = {}
        self._selected: dict[str, set[str]] = {}  # Market Watch, per trade server
        self._books: set[tuple[str, str]] = set()  # Depth of Market subscriptions: (server, symbol)
        self._ledgers: dict[tuple[str, int, int], Ledger] = {}  # (server, login, day): the account side
        self._rng = random.Random(seed)
        self._faults: dict[str, _Fault] = {}
        for name, spec in (faults or {}).items():
            self.inject_fault(name, fail_first=spec.fail_first, rate=spec.rate, code=spec.code)
        self._connected = False
        self._crash_code: int | None = None
        self._crash_every = crash_every  # a scripted crash on every N-th account_info() call (0: never)
        self._active: AccountSpec | None = None
        self._last_account: AccountSpec | None = None  # what the terminal logs into on start
        self._saved: set[tuple[int, str]] = set()  # accounts whose password the terminal remembers
        self._error = SUCCESS
        self._guard = threading.Lock()
        self._inflight = 0
        self.calls: Counter[str] = Counter()
        self.max_concurrent_calls = 0

    # --- test and benchmark API -------------------------------------------------------------------

    @property
    def accounts(self) -> tuple[AccountSpec, ...]:
        return self._accounts

    @property
    def active_login(self) -> int | None:
        return self._active.login if self._active and self._connected else None

    def inject_fault(self, function: str, *, fail_first: int = 0, rate: float = 0.0, code: int = -10004) -> None:
        """Make ``function`` fail: its next ``fail_first`` calls, then each call with probability ``rate``."""
        if function not in FUNCTIONS or function == "last_error":
            choices = [name for name in FUNCTIONS if name != "last_error"]
            raise ValueError(f"cannot inject faults into {function!r}; choose from {choices}")
        self._faults[function] = _Fault(FaultSpec(fail_first=fail_first, rate=rate, code=code))

    def clear_faults(self) -> None:
        self._faults.clear()

    def crash(self, code: int = RES_E_INTERNAL_FAIL_SEND) -> None:
        """The terminal process died: every call fails with ``code`` until ``initialize()`` succeeds."""
        self._crash_code = code

    def reset_counters(self) -> None:
        self.calls.clear()
        self.max_concurrent_calls = 0

    # --- the port ---------------------------------------------------------------------------------

    def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int = 60000,
        portable: bool = False,
    ) -> bool:
        with self._call("initialize"):
            self._connected = False  # the SDK closes any open pipe first: a second call reconnects
            if self._rejects_arguments(
                path=(path, str | None),
                login=(login, int | None),
                password=(password, str | None),
                server=(server, str | None),
                timeout=(timeout, int),
                portable=(portable, bool),
            ) or self._injected_fault("initialize"):
                return False
            self._crash_code = None
            if login is not None:
                if not self._authorize(login, password, server):
                    return False
            else:
                self._active = self._last_account
            self._connected = True
            return True

    def login(
        self, login: int, password: str | None = None, server: str | None = None, *, timeout: int = 60000
    ) -> bool:
        with self._call("login"):
            if self._unavailable("login") or self._rejects_arguments(
                login=(login, int),
                password=(password, str | None),
                server=(server, str | None),
                timeout=(timeout, int),
            ):
                return False
            return self._authorize(login, password, server)

    def shutdown(self) -> bool:
        with self._call("shutdown"):
            self._connected = False
            self._crash_code = None
            return True  # the real one returns True even when not connected (its docs say None)

    def last_error(self) -> tuple[int, str]:
        with self._guard:
            self.calls["last_error"] += 1
        return self._error

    def version(self) -> tuple[int, int, str] | None:
        with self._call("version"):
            return None if self._unavailable("version") else (500, BUILD, BUILD_DATE)

    def account_info(self) -> AccountInfo | None:
        with self._call("account_info"):
            if self._crash_every and self.calls["account_info"] % self._crash_every == 0:
                self.crash()  # this call already finds the terminal dead
            if self._unavailable("account_info"):
                return None
            if self._active is None:
                self._error = error_tuple(RES_E_FAIL)
                return None
            return _account_info(self._active)

    def terminal_info(self) -> TerminalInfo | None:
        with self._call("terminal_info"):
            if self._unavailable("terminal_info"):
                return None
            return _terminal_info(connected=self._active is not None, maxbars=self._maxbars)

    # --- the market side ----------------------------------------------------------------------------

    @property
    def market(self) -> Market | None:
        """The active account's trade server's market (``None`` without an authorised account)."""
        if self._active is None or not self._connected:
            return None
        server = self._active.server
        market = self._markets.get(server)
        if market is None:
            market = self._markets[server] = Market(server, self._market_seed)
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
            values = self._data_arguments("symbols_get", args, kwargs, (), ("group",), keywords=("group",))
            if values is None:
                return None
            (group,) = values
            if group is not _NO_VALUE and self._rejects_arguments(group=(group, str)):
                return None
            market = self.market
            if market is None:
                return ()
            names = market.names if group is _NO_VALUE else select(group, market.names)
            now = self.now_ms()
            return tuple(self._symbol_info(market, name, now) for name in names)

    def symbol_info(self, *args: Any, **kwargs: Any) -> SymbolInfo | None:
        with self._call("symbol_info"):
            found = self._symbol_argument("symbol_info", args, kwargs)
            if found is None:
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
            values = self._data_arguments("symbol_select", args, kwargs, ("symbol",), ("enable",), keywords=("enable",))
            if values is None:
                return False
            symbol, enable = values
            enable = True if enable is _NO_VALUE else enable
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
            parsed = self._rates_arguments("copy_rates_from", args, kwargs, ("date_from", "count"))
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
            parsed = self._rates_arguments("copy_rates_from_pos", args, kwargs, ("start_pos", "count"))
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
            parsed = self._rates_arguments("copy_rates_range", args, kwargs, ("date_from", "date_to"))
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
            parsed = self._ticks_arguments("copy_ticks_from", args, kwargs, ("date_from", "count", "flags"))
            if parsed is None:
                return None
            symbol, (date_from, count, flags) = parsed
            ticks = symbol.ticks_from(date_from * 1000, count if flags != mt5c.COPY_TICKS_TRADE else 0, self.now_ms())
            return self._bulk("copy_ticks_from", _filter_ticks(ticks, flags))

    def copy_ticks_range(self, *args: Any, **kwargs: Any) -> Records | None:
        with self._call("copy_ticks_range"):
            parsed = self._ticks_arguments("copy_ticks_range", args, kwargs, ("date_from", "date_to", "flags"))
            if parsed is None:
                return None
            symbol, (date_from, date_to, flags) = parsed
            if flags == mt5c.COPY_TICKS_TRADE:
                return np.zeros(0, dtype=TICKS_DTYPE)
            ticks = symbol.ticks_between(date_from * 1000, date_to * 1000, self.now_ms())
            return self._bulk("copy_ticks_range", _filter_ticks(ticks, flags))

    # --- market internals ---

    def _data_arguments(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
        *,
        keywords: tuple[str, ...] = (),
    ) -> list[Any] | None:
        """The SDK's parsing of a data function's arguments, after the connection check: the values in order
        (``_NO_VALUE`` for an omitted optional one), or ``None`` with the error set."""
        if self._unavailable(name):
            return None
        if set(kwargs) - set(keywords):
            self._error = error_tuple(RES_E_INVALID_PARAMS, INVALID_KEYWORD_ARGUMENTS)
            return None
        names = required + optional
        if not len(required) <= len(args) <= len(names):
            self._error = error_tuple(RES_E_INVALID_PARAMS, INVALID_ARGUMENT_COUNT)
            return None
        values = list(args) + [_NO_VALUE] * (len(names) - len(args))
        for i, key in enumerate(names):
            if key in kwargs:
                if values[i] is not _NO_VALUE:  # given twice
                    self._error = error_tuple(RES_E_INVALID_PARAMS, INVALID_ARGUMENT_COUNT)
                    return None
                values[i] = kwargs[key]
        return values

    def _symbol_argument(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Market, SymbolMarket] | None:
        """The one positional ``symbol`` of a symbol function, looked up: unknown is ``(-4, 'Terminal: Not found')``."""
        values = self._data_arguments(name, args, kwargs, ("symbol",))
        if values is None or self._rejects_arguments(symbol=(values[0], str)):
            return None
        market = self.market
        symbol = None if market is None else market.get(values[0])
        if market is None or symbol is None:
            self._error = error_tuple(RES_E_NOT_FOUND)
            return None
        return market, symbol

    def _rates_arguments(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], rest: tuple[str, str]
    ) -> tuple[Market, SymbolMarket, int, tuple[int, int]] | None:
        values = self._data_arguments(name, args, kwargs, ("symbol", "timeframe", *rest))
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
        return market, found, timeframe, (_seconds(first), _seconds(second))

    def _ticks_arguments(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], rest: tuple[str, str, str]
    ) -> tuple[SymbolMarket, tuple[int, int, int]] | None:
        values = self._data_arguments(name, args, kwargs, ("symbol", *rest))
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
        return found, (_seconds(date_from), _seconds(second), flags)

    def _data_symbol(self, symbol: str) -> tuple[Market | None, SymbolMarket | None]:
        """A data function's symbol: an unknown one fails the call with ``(-1, 'Terminal: Call failed')``."""
        market = self.market
        found = None if market is None else market.get(symbol)
        if found is None:
            self._error = error_tuple(RES_E_FAIL)
        return market, found

    def _invalid(self, argument: str) -> None:
        self._error = error_tuple(RES_E_INVALID_PARAMS, f'Invalid "{argument}" argument')
        return None

    def _no_data(self) -> None:
        """Bars outside the history the terminal holds (before the oldest of its last ``maxbars``)."""
        self._error = error_tuple(RES_E_FAIL)
        return None

    def _rates(self, symbol: SymbolMarket, timeframe: int, bars: tuple[Any, Any], name: str) -> Records:
        starts, ends = bars
        return self._bulk(name, symbol.rates(timeframe, starts, ends, self.now_ms()))

    def _bulk(self, name: str, rows: Records) -> Records:
        """A bulk copy costs its function's latency again for every ``BULK_ROWS_PER_LATENCY`` rows."""
        delay = self._latency.get(name, 0.0) * len(rows) / BULK_ROWS_PER_LATENCY
        if delay:
            self._sleep(delay)
        return rows

    def _symbol_info(self, market: Market, name: str, now_ms: int) -> SymbolInfo:
        currency = self._active.currency if self._active is not None else "USD"
        return market.symbol_info(
            name, now_ms, selected=name in self._selected[market.server], account_currency=currency
        )

    # --- internals --------------------------------------------------------------------------------

    @contextmanager
    def _call(self, name: str) -> Iterator[None]:
        with self._guard:
            self.calls[name] += 1
            self._inflight += 1
            self.max_concurrent_calls = max(self.max_concurrent_calls, self._inflight)
        try:
            self._error = SUCCESS  # every SDK call resets the error slot when it starts
            delay = self._latency.get(name, 0.0)
            if delay:
                self._sleep(delay)
            yield
        finally:
            with self._guard:
                self._inflight -= 1

    def _rejects_arguments(self, **arguments: tuple[object, object]) -> bool:
        """The SDK's argument check: a wrong type fails the call with ``Invalid "<name>" argument``."""
        for name, (value, expected) in arguments.items():
            bool_for_int = isinstance(value, bool) and expected is not bool
            if bool_for_int or not isinstance(value, expected):  # type: ignore[arg-type]
                self._error = error_tuple(RES_E_INVALID_PARAMS, f'Invalid "{name}" argument')
                return True
        return False

    def _unavailable(self, name: str) -> bool:
        """No pipe, a crashed terminal or an injected fault: set the error and say so."""
        if not self._connected:
            self._error = error_tuple(RES_E_INTERNAL_FAIL_CONNECT)
            return True
        if self._crash_code is not None:
            self._error = error_tuple(self._crash_code)
            return True
        return self._injected_fault(name)

    def _injected_fault(self, name: str) -> bool:
        fault = self._faults.get(name)
        if fault is None:
            return False
        fault.seen += 1
        if fault.seen <= fault.spec.fail_first or (fault.spec.rate and self._rng.random() < fault.spec.rate):
            self._error = error_tuple(fault.spec.code)
            return True
        return False

    def _authorize(self, login: int, password: str | None, server: str | None) -> bool:
        account = self._find(login, password, server)
        if account is None:
            self._active = None  # a refused switch leaves the terminal with no authorised account
            self._error = error_tuple(RES_E_AUTH_FAILED)
            return False
        self._active = self._last_account = account
        self._saved.add((account.login, account.server))
        return True

    def _find(self, login: int, password: str | None, server: str | None) -> AccountSpec | None:
        for account in self._accounts:
            if account.login != login or (server is not None and account.server != server):
                continue
            if password is None:
                # Like the terminal: fall back on the password it saved for this account, if any.
                if (account.login, account.server) in self._saved:
                    return account
            elif account.password.get_secret_value() == password:
                return account
        return None

    def __repr__(self) -> str:
        state = "crashed" if self._crash_code is not None else "connected" if self._connected else "closed"
        return f"<SimulatedTerminal {state} active={self.active_login} accounts={len(self._accounts)}>"


def _account_info(account: AccountSpec) -> AccountInfo:
    equity = account.balance if account.equity is None else account.equity
    return AccountInfo(
        login=account.login,
        trade_mode=0,
        leverage=account.leverage,
        limit_orders=200,
        margin_so_mode=0,
        trade_allowed=True,
        trade_expert=True,
        margin_mode=2,
        currency_digits=2,
        fifo_close=False,
        balance=account.balance,
        credit=0.0,
        profit=round(equity - account.balance, 2),
        equity=equity,
        margin=0.0,
        margin_free=equity,
        margin_level=0.0,
        margin_so_call=50.0,
        margin_so_so=30.0,
        margin_initial=0.0,
        margin_maintenance=0.0,
        assets=0.0,
        liabilities=0.0,
        commission_blocked=0.0,
        name=account.name,
        server=account.server,
        currency=account.currency,
        company=account.company,
    )


def _terminal_info(*, connected: bool, maxbars: int) -> TerminalInfo:
    return TerminalInfo(
        community_account=False,
        community_connection=False,
        connected=connected,
        dlls_allowed=False,
        trade_allowed=False,
        tradeapi_disabled=False,
        email_enabled=False,
        ftp_enabled=False,
        notifications_enabled=False,
        mqid=False,
        build=BUILD,
        maxbars=maxbars,
        codepage=0,
        ping_last=0,
        community_balance=0.0,
        retransmission=0.0,
        company="MetaQuotes Ltd.",
        name="MetaTrader 5 (simulated)",
        language="English",
        path="C:\\Program Files\\MetaTrader 5",
        data_path="C:\\Users\\mt5\\AppData\\Roaming\\MetaQuotes\\Terminal\\SIMULATED",
        commondata_path="C:\\Users\\mt5\\AppData\\Roaming\\MetaQuotes\\Terminal\\Common",
    )


_COPY_TICKS_FLAGS = frozenset(
    {mt5c.COPY_TICKS_ALL, mt5c.COPY_TICKS_INFO, mt5c.COPY_TICKS_TRADE, mt5c.COPY_TICKS_INFO | mt5c.COPY_TICKS_TRADE}
)


def _seconds(value: datetime | int) -> int:
    """A date argument as epoch seconds: ints as they are; a datetime by its ``timestamp()`` (so a naive one is
    read in the local time zone, as the SDK's pages warn)."""
    return int(value.timestamp()) if isinstance(value, datetime) else int(value)


def _filter_ticks(ticks: Records, flags: int) -> Records:
    """COPY_TICKS_INFO keeps ticks that changed Bid or Ask; COPY_TICKS_TRADE those that changed Last or Volume
    (the simulated symbols have none); COPY_TICKS_ALL (or both bits) keeps every tick."""
    kept: Records = ticks
    if flags == mt5c.COPY_TICKS_INFO:
        kept = ticks[(ticks["flags"] & (mt5c.TICK_FLAG_BID | mt5c.TICK_FLAG_ASK)) != 0]
    elif flags == mt5c.COPY_TICKS_TRADE:
        kept = ticks[(ticks["flags"] & (mt5c.TICK_FLAG_LAST | mt5c.TICK_FLAG_VOLUME)) != 0]
    return kept
