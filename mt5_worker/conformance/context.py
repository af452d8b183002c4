"""What every check gets (:class:`Context`: the terminal, the account, the symbol, the options) and gives back
(:class:`Observation`: held or not, and what the terminal did, in words).

A check reads the terminal through the port, as the service does; where it must pass arguments the port cannot pass
(keywords for unnamed parameters), it calls the SDK's own functions (``Context.sdk``), which only a process beside
the terminal holds. Observations describe what happened without the account's values (balances, names, paths):
reports go to bug trackers.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mt5_worker.settings import Settings
from mt5_worker.terminal import constants as c

# A symbol no trade server has: what "an unknown symbol" means in the checks.
UNKNOWN_SYMBOL = "NO.SUCH.SYMBOL.X"


@dataclass(frozen=True)
class Account:
    """An account the checks log into. ``password`` is ``None`` where the terminal has it saved."""

    login: int
    password: str | None = field(repr=False)
    server: str


@dataclass(frozen=True)
class Observation:
    """What one check saw: ``held`` is ``True`` (as the service expects), ``False`` (not), or ``None`` (the check
    could not tell: a closed market, an account without trades, an option not set), and ``observed`` says what the
    terminal did, or why it could not be checked."""

    held: bool | None
    observed: str


def held(observed: str) -> Observation:
    return Observation(True, observed)


def differs(observed: str) -> Observation:
    return Observation(False, observed)


def unchecked(why: str) -> Observation:
    return Observation(None, why)


def judged(ok: bool, observed: str) -> Observation:
    return Observation(ok, observed)


@dataclass
class Context:
    """The terminal under check and what the checks need to know about it.

    ``terminal``: the port (initialized, ``account`` logged in). ``sdk``: the SDK's module-level functions where this
    process holds them (``None`` through the bridge); ``module``: the same when they are the ``MetaTrader5`` module
    itself (its constants too), not a simulator. ``simulated``: the terminal is the simulator (a documented
    simplification then counts as such). ``second``: another account, for the account-switch check.
    ``press_algo_trading``: turns Algo Trading back on where the backend can (simulators only). ``opened``: positions
    the checks opened, closed at the end whatever happens. ``notes``: what the user must know after the run.
    """

    terminal: Any
    account: Account
    symbol: str
    settings: Settings
    sdk: Any | None = None
    module: Any | None = None
    second: Account | None = None
    simulated: bool = False
    clock: Callable[[], float] = time.time
    press_algo_trading: Callable[[], bool] = lambda: False
    opened: list[tuple[int, float, int]] = field(default_factory=list)  # (position, volume, ORDER_TYPE_*)
    notes: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)  # what several checks read once

    def error(self) -> tuple[int, str]:
        code, message = self.terminal.last_error()
        return int(code), str(message)

    def answer(self, label: str, value: Any) -> str:
        """``label -> what it answered, last_error()``, read right after the call."""
        return f"{label} -> {describe(value)}, {self.error()}"

    def failed_with(self, value: Any, code: int, message: str | None = None) -> bool:
        """Whether a call that answered ``value`` failed as the SDK fails: ``None``/``False`` and ``code`` (and the
        exact ``message`` if given) in ``last_error()``."""
        error = self.error()
        failed = value is None or value is False  # never ==: an array answers element by element
        return failed and error[0] == code and (message is None or error[1] == message)

    def login_again(self) -> bool:
        """Make the account the terminal's active one again (after a check switched or reconnected)."""
        a = self.account
        timeout = self.settings.terminal_timeout_ms
        return bool(self.terminal.login(a.login, a.password, a.server, timeout=timeout))

    def reconnect(self) -> bool:
        """``initialize()`` as the service calls it: the settings' path, timeout and portable mode, no account."""
        s = self.settings
        options = {"timeout": s.terminal_timeout_ms, "portable": s.terminal_portable}
        return bool(self.terminal.initialize(s.terminal_path, **options))

    @functools.cached_property
    def info(self) -> Any:
        """The symbol's ``SymbolInfo`` (read once)."""
        info = self.terminal.symbol_info(self.symbol)
        if info is None:
            raise LookupError(f"symbol_info({self.symbol!r}) failed: {self.error()}")
        return info

    def tick(self) -> Any:
        """The symbol's last tick (``symbol_info_tick``), or ``LookupError``."""
        tick = self.terminal.symbol_info_tick(self.symbol)
        if tick is None or not tick.time:
            raise LookupError(f"symbol_info_tick({self.symbol!r}) has no tick: {self.error()}")
        return tick

    def server_now(self) -> int:
        """The trade server's "now" as far as this run can tell: its last tick's time (epoch seconds)."""
        return int(self.tick().time)


Call = tuple[str, Callable[[], Any]]  # what a check calls, labelled as its observation names it


def all_failed(ctx: Context, calls: Iterable[Call], code: int, message: str | None = None) -> Observation:
    """Make each call in turn: held when every one failed with ``code`` (and ``message``), as the SDK fails."""
    return failures(ctx, ((label, call, code, message) for label, call in calls))


def failures(ctx: Context, calls: Iterable[tuple[str, Callable[[], Any], int, str | None]]) -> Observation:
    """Make each call in turn: held when every one failed with its own code (and message)."""
    seen, ok = [], True
    for label, call, code, message in calls:
        value = call()
        ok = ctx.failed_with(value, code, message) and ok
        seen.append(ctx.answer(label, value))
    return judged(ok, "; ".join(seen))


def describe(value: Any) -> str:
    """A call's answer in a few words, without its values: ``None``, ``True``, ``an array of 10 rows``, ``a
    SymbolInfo``, ``3 TradeDeal``, ``()``."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if hasattr(value, "dtype"):
        return f"an array of {len(value)} rows"
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return f"a {type(value).__name__}"
    if isinstance(value, tuple):
        if not value:
            return "()"
        first = value[0]
        return f"{len(value)} {type(first).__name__}" if hasattr(first, "_asdict") else f"a tuple of {len(value)}"
    return f"a {type(value).__name__}"


def utc(seconds: float) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS`` read as UTC: the trade server's wall clock, for its stamps."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def hours(seconds: float) -> str:
    """A clock offset as ``+3 h`` / ``-2 d 1 h 4 min 2 s``."""
    sign, rest = ("-" if seconds < 0 else "+"), round(abs(seconds))
    days, rest = divmod(rest, 86_400)
    hrs, rest = divmod(rest, 3_600)
    mins, secs = divmod(rest, 60)
    parts = [f"{v} {u}" for v, u in ((days, "d"), (hrs, "h"), (mins, "min"), (secs, "s")) if v]
    return sign + (" ".join(parts) or "0 s")


def filling_modes(info: Any) -> dict[int, bool]:
    """Which ``ORDER_FILLING_*`` a symbol allows: FOK and IOC by its ``filling_mode`` bits, RETURN in every execution
    mode but Market (docs/sdk-trading.md, return code 10030)."""
    return {
        c.ORDER_FILLING_FOK: bool(info.filling_mode & c.SYMBOL_FILLING_FOK),
        c.ORDER_FILLING_IOC: bool(info.filling_mode & c.SYMBOL_FILLING_IOC),
        c.ORDER_FILLING_RETURN: info.trade_exemode != c.SYMBOL_TRADE_EXECUTION_MARKET,
    }


FILLING_NAMES = {c.ORDER_FILLING_FOK: "FOK", c.ORDER_FILLING_IOC: "IOC", c.ORDER_FILLING_RETURN: "RETURN"}
