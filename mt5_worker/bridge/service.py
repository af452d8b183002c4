"""What one authenticated bridge connection can do: call the port's functions, and nothing else.

Classic-mode RPyC would hand the peer this whole process; here the service itself is the allow-list:

- names resolve only through :meth:`BridgeService._rpyc_getattr` (the port's functions, plus ``sim_*``
  simulator control when enabled), on a connection whose request handlers are cut down to calls and
  reference counting;
- arguments must be plain builtins (a remote reference is refused as an invalid argument), and answers are
  plain tuples ``(result, last_error)``, never references to objects in this process;
- one terminal call at a time (the terminal, like the SDK, is single-threaded), each logged as
  ``mt5.bridge.call`` without its password.

This module holds the shared core and the service's shell (connection, allow-list, the connection functions);
the data functions' methods are the :class:`~mt5_worker.bridge.data_functions.DataFunctions` mixin and the
``sim_*`` methods the :class:`~mt5_worker.bridge.simulator_control.SimulatorControl` mixin, so that each concept
has a module of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import rpyc
from rpyc.core import consts
from rpyc.core.protocol import Connection

from mt5_worker.bridge.data_functions import DataFunctions
from mt5_worker.bridge.simulator_control import SIMULATOR_CONTROL, SimulatorControl
from mt5_worker.codes import RES_E_FAIL, RES_E_INVALID_PARAMS, SUCCESS, error_tuple
from mt5_worker.logging import get_logger
from mt5_worker.settings import Settings
from mt5_worker.terminal.port import FUNCTIONS, Terminal
from mt5_worker.terminal.records import RATES_DTYPE, TICKS_DTYPE
from mt5_worker.terminal.wire import PLAIN_TYPES, encode_array, is_plain

_ALLOWED_HANDLERS = frozenset(
    {
        consts.HANDLE_PING,
        consts.HANDLE_CLOSE,
        consts.HANDLE_GETROOT,
        consts.HANDLE_GETATTR,
        consts.HANDLE_CALL,
        consts.HANDLE_CALLATTR,
        consts.HANDLE_DEL,
        consts.HANDLE_INSPECT,
        consts.HANDLE_REPR,
        consts.HANDLE_STR,
        consts.HANDLE_HASH,
    }
)

Reply = tuple[Any, tuple[int, str]]

# Port functions that answer True/False (the others answer a value or None).
BOOLEAN_FUNCTIONS = frozenset(
    {"initialize", "login", "shutdown", "symbol_select", "market_book_add", "market_book_release"}
)
# Functions whose answer is one record (a named tuple) or a tuple of records, sent as plain tuples.
_RECORD_FUNCTIONS = frozenset({"account_info", "terminal_info", "version", "symbol_info", "symbol_info_tick"})
_RECORDS_FUNCTIONS = frozenset(
    {"symbols_get", "market_book_get", "orders_get", "positions_get", "history_orders_get", "history_deals_get"}
)
_INT_FUNCTIONS = frozenset(
    {"symbols_total", "orders_total", "positions_total", "history_orders_total", "history_deals_total"}
)
# Functions whose answer is a numpy structured array, sent as encode_array() plain data, by dtype.
_ARRAY_FUNCTIONS = {
    "copy_rates_from": RATES_DTYPE,
    "copy_rates_from_pos": RATES_DTYPE,
    "copy_rates_range": RATES_DTYPE,
    "copy_ticks_from": TICKS_DTYPE,
    "copy_ticks_range": TICKS_DTYPE,
}


class _BridgeConnection(Connection):  # type: ignore[misc]
    """An RPyC connection that handles only calls, root and reference bookkeeping: no setattr, delattr,
    dir, comparisons, pickling, iteration or context managers on this process's objects."""

    @classmethod
    def _request_handlers(cls) -> dict[int, Any]:
        handlers: dict[int, Any] = super()._request_handlers()
        return {code: handler for code, handler in handlers.items() if code in _ALLOWED_HANDLERS}


class BridgeCore:
    """What every connection shares: the terminal, the one-call-at-a-time lock, the logger."""

    def __init__(self, terminal: Terminal, settings: Settings, *, allow_simulator_control: bool) -> None:
        self.terminal = terminal
        self.settings = settings
        self.lock = threading.Lock()
        self.allowed = frozenset(FUNCTIONS) | (frozenset(SIMULATOR_CONTROL) if allow_simulator_control else set())
        self.log = get_logger("mt5_worker.bridge").bind(backend=getattr(terminal, "backend", "?"))

    def call(
        self,
        peer: str,
        function: str,
        args: dict[str, Any],
        kwargs: dict[str, Any],
        *,
        login: object = None,
        server: object = None,
    ) -> Reply:
        """Run one port function under the lock; ``(plain result, last_error)``, logged.

        ``args`` are the positional arguments, by name (for the error message of a non-plain one).
        """
        started = time.perf_counter()
        bad = _first_not_plain(args | kwargs)
        if bad is not None:
            result: Any = False if function in BOOLEAN_FUNCTIONS else None
            error = error_tuple(RES_E_INVALID_PARAMS, f'Invalid "{bad}" argument')
            waited = 0.0
        else:
            with self.lock:
                waited = time.perf_counter() - started
                result, error = self._run(function, tuple(args.values()), kwargs)
        ok = result is not None and result is not False
        self.log.log(
            logging.INFO if ok else logging.WARNING,
            "mt5.bridge.call",
            function=function,
            login=login if type(login) is int else None,
            server=server if type(server) is str else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            wait_ms=round(waited * 1000, 3),
            ok=ok,
            mt5_code=error[0],
            mt5_message=error[1],
            peer=peer,
        )
        return result, error

    def _run(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Reply:
        if function in ("order_check", "order_send") and len(args) == 1 and type(args[0]) is tuple:
            args = (dict(args[0]),)  # the request crossed as (key, value) pairs
        try:
            result = getattr(self.terminal, function)(*args, **kwargs)
            ok = result is not None and result is not False
            if function == "last_error":
                error = (int(result[0]), str(result[1]))
                return error, error
            error = SUCCESS if ok else self.terminal.last_error()
            value = _plain_result(function, result)
        except Exception as exc:  # an adapter bug: the caller sees a failed call, the log has the trace
            self.log.exception("mt5.bridge.adapter_error", function=function, error=type(exc).__name__)
            return None, error_tuple(RES_E_FAIL, f"Terminal: Call failed (bridge: {type(exc).__name__})")
        return value, (int(error[0]), str(error[1]))


def _plain_result(function: str, result: Any) -> Any:
    value: Any
    if function in _RECORD_FUNCTIONS:
        value = None if result is None else tuple(result)
    elif function in _RECORDS_FUNCTIONS:
        value = None if result is None else tuple(tuple(record) for record in result)
    elif function in _ARRAY_FUNCTIONS:
        value = None if result is None else encode_array(_as_dtype(result, _ARRAY_FUNCTIONS[function]))
    elif function in _INT_FUNCTIONS:
        value = None if result is None else int(result)
    elif function in ("order_calc_margin", "order_calc_profit"):
        value = None if result is None else float(result)
    elif function in ("order_check", "order_send"):
        value = None if result is None else (*tuple(result)[:-1], tuple(result.request))
    else:
        value = bool(result)
    if not is_plain(value, allow_bytes=True):
        raise TypeError(f"{function} returned values that are not plain data")
    return value


def _as_dtype(array: Any, dtype: Any) -> Any:
    """The SDK's array with exactly the port's columns, taken by name (a newer SDK may add or reorder some)."""
    rows = np.asarray(array)
    out = np.zeros(len(rows), dtype=dtype)
    for name in dtype.names:
        out[name] = rows[name]
    return out


def _first_not_plain(arguments: dict[str, Any]) -> str | None:
    return next((name for name, value in arguments.items() if not _plain_argument(name, value)), None)


def _plain_argument(name: str, value: Any) -> bool:
    """A builtin scalar; the history dates and a trade request's (key, value) pairs are tuples of them."""
    if name in ("dates", "request") and type(value) is tuple:
        pairs = name == "request"
        return all((type(v) is tuple and len(v) == 2 and type(v[0]) is str) if pairs else True for v in value) and (
            is_plain(value)
        )
    return type(value) in PLAIN_TYPES


class BridgeService(DataFunctions, SimulatorControl, rpyc.Service):  # type: ignore[misc]
    """The service one connection sees: the port's functions (plus simulator control when enabled).

    Names resolve only through :meth:`_rpyc_getattr`'s allow-list, never RPyC's default attribute rules.
    """

    _protocol = _BridgeConnection

    def __init__(self, core: BridgeCore) -> None:
        self._core = core
        self._peer = "unknown"

    def on_connect(self, conn: Any) -> None:
        endpoints = conn._config.get("endpoints")
        if endpoints:
            self._peer = format_address(endpoints[1])
        self._core.log.info("mt5.bridge.connected", peer=self._peer)

    def on_disconnect(self, conn: Any) -> None:
        self._core.log.info("mt5.bridge.disconnected", peer=self._peer)

    def _rpyc_getattr(self, name: str) -> Any:
        base = name.removeprefix("exposed_")
        if base in self._core.allowed:
            return getattr(self, f"exposed_{base}")
        raise AttributeError(f"the bridge serves no {name!r}")

    def _rpyc_setattr(self, name: str, value: Any) -> None:
        raise AttributeError("access denied")

    def _rpyc_delattr(self, name: str) -> None:
        raise AttributeError("access denied")

    # --- the port ---------------------------------------------------------------------------------

    def exposed_initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int = 60000,
        portable: bool = False,
    ) -> Reply:
        kwargs = {"login": login, "password": password, "server": server, "timeout": timeout, "portable": portable}
        return self._core.call(self._peer, "initialize", {"path": path}, kwargs, login=login, server=server)

    def exposed_login(
        self, login: int, password: str | None = None, server: str | None = None, *, timeout: int = 60000
    ) -> Reply:
        kwargs = {"password": password, "server": server, "timeout": timeout}
        return self._core.call(self._peer, "login", {"login": login}, kwargs, login=login, server=server)

    def exposed_shutdown(self) -> Reply:
        return self._core.call(self._peer, "shutdown", {}, {})

    def exposed_account_info(self) -> Reply:
        return self._core.call(self._peer, "account_info", {}, {})

    def exposed_terminal_info(self) -> Reply:
        return self._core.call(self._peer, "terminal_info", {}, {})

    def exposed_version(self) -> Reply:
        return self._core.call(self._peer, "version", {}, {})

    def exposed_last_error(self) -> Reply:
        return self._core.call(self._peer, "last_error", {}, {})


def format_address(address: Any) -> str:
    """A peer address as ``host:port`` for the log."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
