"""An in-process MT5 terminal that behaves like the real one as seen through the port.

Same return shapes and error tuples as the ``MetaTrader5`` module; one active account at a time;
per-function latencies; fault injection (settings or the Python API) and a simulated crash; per-function call
counters and an overlap detector for tests and benchmarks. It remembers the passwords of accounts it has
authorised, as a terminal's saved accounts do, so ``login(n)`` without a password works only after one
successful login with it.

The market side (``symbols_*``, ``copy_*``, ``market_book_*``: :mod:`~mt5_worker.simulator.market_side`),
the account side (orders, positions, history, ``order_check``: :mod:`~mt5_worker.simulator.account_side`)
and trading (``order_send`` on a simulated trade server that outlives the terminal:
:mod:`~mt5_worker.simulator.trading_side`) are mixins; this module holds the connection, the accounts, the
call accounting and fault injection.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

from mt5_worker.codes import (
    RES_E_AUTH_FAILED,
    RES_E_FAIL,
    RES_E_INTERNAL_FAIL_CONNECT,
    RES_E_INTERNAL_FAIL_SEND,
    RES_E_INVALID_PARAMS,
    SUCCESS,
    error_tuple,
)
from mt5_worker.simulator.account_side import AccountSide
from mt5_worker.simulator.ledger import Ledger
from mt5_worker.simulator.market import Market
from mt5_worker.simulator.market_side import MarketSide
from mt5_worker.simulator.specs import DEMO_ACCOUNTS, AccountSpec, FaultSpec
from mt5_worker.simulator.trade_life import MARGIN_SO_CALL, MARGIN_SO_SO
from mt5_worker.simulator.trade_rules import Figures
from mt5_worker.simulator.trade_store import AccountState, TradeStore
from mt5_worker.simulator.trading_side import TradingSide
from mt5_worker.terminal.functions import FUNCTIONS
from mt5_worker.terminal.records import AccountInfo, TerminalInfo

BUILD = 4755
BUILD_DATE = "20 Nov 2026"
MAXBARS = 100_000  # the terminal's "Max. bars in chart" (terminal_info().maxbars)
TERMINAL_NAME = "MetaTrader 5 (simulated)"  # terminal_info().name: how a client tells the simulator from a terminal


# Functions that change something: an ``after`` fault lets them take effect before failing.
_AFTER_FUNCTIONS = frozenset({"login", "order_send"})


@dataclass
class _Fault:
    spec: FaultSpec
    seen: int = 0


class SimulatedTerminal(MarketSide, AccountSide, TradingSide):
    """A faithful stand-in for the ``MetaTrader5`` module (see module docstring).

    ``trade_store``: the file of the simulated trade servers this terminal trades on, shared with every simulated
    terminal that names it (``None``: a store in memory, private to this object). ``disable_algo_on_switch``: the
    terminal option that turns Algo Trading off when ``login`` changes the account. ``deviations``: names of
    :data:`~mt5_worker.simulator.specs.DEVIATIONS`, SDK facts to get wrong on purpose (tests). ``clock_offset``:
    seconds added to ``clock`` to give the trade servers' time (``MT5_SIMULATOR_CLOCK_OFFSET``): every process of a
    deployment passes the same value, so they all see one market, pinned to the hours a test or a demo needs.
    ``tick_rate``: mean ticks per second per symbol while it trades, in bursts (``MT5_SIMULATOR_TICK_RATE``;
    ``None``: each symbol's own quieter rate); ticks stay a pure function of (seed, server, symbol, time) for a given
    rate.
    """

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
        clock_offset: float = 0.0,
        market_seed: int = 0,
        tick_rate: float | None = None,
        maxbars: int = MAXBARS,
        trade_store: str | os.PathLike[str] | None = None,
        disable_algo_on_switch: bool = False,
        deviations: Iterable[str] = (),
    ) -> None:
        self._accounts = tuple(accounts) if accounts is not None else DEMO_ACCOUNTS
        self._latency = dict(latency or {})
        self._sleep = sleep
        self.clock_offset = clock_offset
        self._clock = clock if not clock_offset else _shifted(clock, clock_offset)
        self._market_seed = market_seed
        self._tick_rate = tick_rate
        self._maxbars = maxbars
        self._markets: dict[str, Market] = {}
        self._selected: dict[str, set[str]] = {}  # Market Watch, per trade server
        self._books: set[tuple[str, str]] = set()  # Depth of Market subscriptions: (server, symbol)
        self._ledgers: dict[tuple[str, int, int, bool], Ledger] = {}  # (server, login, day, with history)
        self._merges: dict[tuple[str, int], tuple[Ledger, AccountState, Ledger]] = {}  # see SimulatorParts
        self._figures: dict[tuple[str, int], tuple[Ledger, int, int, Figures]] = {}
        self._store = TradeStore(trade_store)  # opened on first use
        self._disable_algo_on_switch = disable_algo_on_switch
        self._deviations = frozenset(deviations)  # SDK facts it breaks on purpose (specs.DEVIATIONS): tests only
        self._algo_trading = True  # the terminal's "Algo Trading" button
        self._request_ids = itertools.count(1)
        self._rng = random.Random(seed)
        self._faults: dict[str, _Fault] = {}
        for name, spec in (faults or {}).items():
            self.inject_fault(name, fail_first=spec.fail_first, rate=spec.rate, code=spec.code, after=spec.after)
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

    def inject_fault(
        self, function: str, *, fail_first: int = 0, rate: float = 0.0, code: int = -10004, after: bool = False
    ) -> None:
        """Make ``function`` fail: its next ``fail_first`` calls, then each call with probability ``rate``;
        ``after``: the call takes effect first (``order_send`` executes, ``login`` switches), then fails."""
        if function not in FUNCTIONS or function == "last_error":
            choices = [name for name in FUNCTIONS if name != "last_error"]
            raise ValueError(f"cannot inject faults into {function!r}; choose from {choices}")
        self._faults[function] = _Fault(FaultSpec(fail_first=fail_first, rate=rate, code=code, after=after))

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
            return self._authorize(login, password, server) and not self._after_fault("login")

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
            return _account_info(self._active, self.figures())

    def terminal_info(self) -> TerminalInfo | None:
        with self._call("terminal_info"):
            if self._unavailable("terminal_info"):
                return None
            return _terminal_info(
                connected=self._active is not None, maxbars=self._maxbars, trade_allowed=self._algo_trading
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
        """A fault that fails the call before it does anything (``after`` faults of functions that change
        something wait for :meth:`_after_fault`)."""
        fault = self._faults.get(name)
        if fault is None or (fault.spec.after and name in _AFTER_FUNCTIONS):
            return False
        return self._fault_fires(fault)

    def _after_fault(self, name: str) -> bool:
        """An ``after`` fault, once the call has taken effect: set the error and say so."""
        fault = self._faults.get(name)
        return fault is not None and fault.spec.after and self._fault_fires(fault)

    def _fault_fires(self, fault: _Fault) -> bool:
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
        previous = self._active or self._last_account
        if self._disable_algo_on_switch and previous is not None and previous is not account:
            self._algo_trading = False  # "disable automated trading when the account has been changed"
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


def _shifted(clock: Callable[[], float], offset: float) -> Callable[[], float]:
    return lambda: clock() + offset


def _account_info(account: AccountSpec, money: Figures | None) -> AccountInfo:
    assert money is not None
    return AccountInfo(
        login=account.login,
        trade_mode=account.trade_mode,
        leverage=account.leverage,
        limit_orders=200,
        margin_so_mode=0,
        trade_allowed=account.trade_allowed,
        trade_expert=account.trade_expert,
        margin_mode=2,  # ACCOUNT_MARGIN_MODE_RETAIL_HEDGING: order_send opens a position per deal
        currency_digits=2,
        fifo_close=False,
        balance=money.balance,
        credit=0.0,
        profit=money.profit,
        equity=money.equity,
        margin=money.margin,
        margin_free=money.margin_free,
        margin_level=money.margin_level,
        margin_so_call=MARGIN_SO_CALL,
        margin_so_so=MARGIN_SO_SO,
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


def _terminal_info(*, connected: bool, maxbars: int, trade_allowed: bool) -> TerminalInfo:
    return TerminalInfo(
        community_account=False,
        community_connection=False,
        connected=connected,
        dlls_allowed=False,
        trade_allowed=trade_allowed,
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
        name=TERMINAL_NAME,
        language="English",
        path="C:\\Program Files\\MetaTrader 5",
        data_path="C:\\Users\\mt5\\AppData\\Roaming\\MetaQuotes\\Terminal\\SIMULATED",
        commondata_path="C:\\Users\\mt5\\AppData\\Roaming\\MetaQuotes\\Terminal\\Common",
    )
