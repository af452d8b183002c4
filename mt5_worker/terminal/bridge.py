"""Client adapter for a terminal served by ``mt5-worker bridge`` (``MT5_BACKEND=bridge``).

The bridge (:mod:`mt5_worker.bridge.server`) runs beside the real terminal and serves the port's functions,
and nothing else, over an RPyC *service*. This adapter implements the same port on the worker's side:

- It connects lazily on the first call, and again on the call after any failure. Each connection opens
  with a handshake (:mod:`mt5_worker.terminal.wire`) before RPyC starts: an optional TLS layer
  (``MT5_BRIDGE_CERTFILE`` is the certificate the client trusts), then the shared token
  (``MT5_BRIDGE_TOKEN``), which the bridge acknowledges or refuses.
- Every call is one round trip that answers ``(result, last_error)``; ``last_error()`` is answered locally.
  Results cross the wire as plain tuples and are rebuilt here as the port's records (:class:`AccountInfo`,
  :class:`SymbolInfo`, :class:`Tick`, ...); bars and ticks cross as a dtype description and the rows' bytes
  (:func:`~mt5_worker.terminal.wire.encode_array`, never a pickle) and are accepted only with the port's exact
  columns; anything else (a remote reference, a wrong shape) is refused like a broken pipe. Date arguments cross
  as epoch seconds (a ``datetime`` is converted here by ``timestamp()``, in this process's time zone).
- Transport trouble never raises. It surfaces as the SDK's IPC codes, which the manager treats as transient
  (the terminal is marked lost and initialized again) and Celery retries:

  ======================================  =====================================================
  what happened                           ``last_error()``
  ======================================  =====================================================
  bridge unreachable, connection refused  ``(-10004, 'No IPC connection')``
  bridge refused the token or TLS         ``(-10003, 'IPC initialize failed, <why>')``
  connection lost during a call           ``(-10002, 'IPC recv failed')``
  no answer within ``MT5_BRIDGE_TIMEOUT``  ``(-10005, 'IPC timeout')``
  unexpected answer or remote error       ``(-10000, 'IPC call failed')``
  ======================================  =====================================================

``MT5_BRIDGE_TIMEOUT`` bounds each network wait (connecting, the handshake, and each call's answer), so it
must exceed the SDK ``timeout`` (``MT5_TERMINAL_TIMEOUT``, in ms) that ``initialize``/``login`` may use on
the terminal host, plus a cold start's pipe wait if the terminal is not running yet.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretStr

from mt5_worker.codes import (
    RES_E_INTERNAL_FAIL,
    RES_E_INTERNAL_FAIL_CONNECT,
    RES_E_INTERNAL_FAIL_INIT,
    RES_E_INTERNAL_FAIL_RECEIVE,
    RES_E_INTERNAL_FAIL_TIMEOUT,
    SUCCESS,
    error_tuple,
)
from mt5_worker.logging import get_logger
from mt5_worker.terminal.port import AccountInfo, Date, TerminalInfo
from mt5_worker.terminal.records import (
    RATES_DTYPE,
    TICKS_DTYPE,
    BookInfo,
    OrderCheckResult,
    Records,
    SymbolInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
)
from mt5_worker.terminal.wire import ACK_OK, SAFE_PROTOCOL_CONFIG, decode_array, hello, is_plain, recv_exact


class BridgeProtocolError(Exception):
    """The bridge answered something other than plain data of the expected shape."""


class BridgeTerminal:
    """The :class:`~mt5_worker.terminal.port.Terminal` port, served by ``mt5-worker bridge`` over TCP.

    Thread-safe (one call at a time per instance), though the manager serialises calls anyway.
    """

    backend: ClassVar[str] = "bridge"

    def __init__(
        self,
        host: str,
        port: int,
        token: str | SecretStr,
        *,
        timeout: float = 120.0,
        certfile: str | Path | None = None,
    ) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        self._hello = hello(secret)  # validates the token once; the token itself is not kept
        self._host = host
        self._port = port
        self._timeout = timeout
        self._tls: ssl.SSLContext | None = None
        if certfile is not None:
            # Trust exactly this certificate (or the CA it is): the bridge's certificate is pinned, so the
            # host name is not checked (the bridge is often reached by address).
            self._tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certfile))
            self._tls.check_hostname = False
        self._lock = threading.Lock()
        self._conn: Any = None
        self._stream: Any = None
        self._root: Any = None
        self._methods: dict[str, Any] = {}  # the service's methods this connection has looked up
        self._error: tuple[int, str] = SUCCESS
        self._log = get_logger("mt5_worker.terminal.bridge").bind(bridge=f"{host}:{port}")

    @property
    def connected(self) -> bool:
        """True while a connection to the bridge is open (it may still turn out to be dead)."""
        return self._conn is not None

    def close(self) -> None:
        """Drop the connection to the bridge; the next call reconnects. The remote terminal stays as it is."""
        with self._lock:
            self._drop(goodbye=True)

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
        value = self._request(
            "initialize",
            path=path,
            login=login,
            password=password,
            server=server,
            timeout=timeout,
            portable=portable,
        )
        return value is True

    def login(
        self, login: int, password: str | None = None, server: str | None = None, *, timeout: int = 60000
    ) -> bool:
        return self._request("login", login=login, password=password, server=server, timeout=timeout) is True

    def shutdown(self) -> bool:
        return self._request("shutdown") is True

    def account_info(self) -> AccountInfo | None:
        values = self._request("account_info")
        return None if values is None else AccountInfo(*values)

    def terminal_info(self) -> TerminalInfo | None:
        values = self._request("terminal_info")
        return None if values is None else TerminalInfo(*values)

    def version(self) -> tuple[int, int, str] | None:
        values = self._request("version")
        return None if values is None else (values[0], values[1], values[2])

    def last_error(self) -> tuple[int, str]:
        """The error of this adapter's latest call: the bridge's answer, or the transport failure."""
        return self._error

    # --- the market side ---------------------------------------------------------------------------
    # Dates cross as epoch seconds (a datetime is converted here, with ``timestamp()``); arrays as plain data.

    def symbols_total(self) -> int | None:
        value = self._request("symbols_total")
        return None if value is None else int(value)

    def symbols_get(self, group: str | None = None) -> tuple[SymbolInfo, ...] | None:
        values = self._request("symbols_get") if group is None else self._request("symbols_get", group=group)
        return None if values is None else tuple(SymbolInfo(*row) for row in values)

    def symbol_info(self, symbol: str, /) -> SymbolInfo | None:
        values = self._request("symbol_info", symbol=symbol)
        return None if values is None else SymbolInfo(*values)

    def symbol_info_tick(self, symbol: str, /) -> Tick | None:
        values = self._request("symbol_info_tick", symbol=symbol)
        return None if values is None else Tick(*values)

    def symbol_select(self, symbol: str, enable: bool = True, /) -> bool:
        return self._request("symbol_select", symbol=symbol, enable=enable) is True

    def market_book_add(self, symbol: str, /) -> bool:
        return self._request("market_book_add", symbol=symbol) is True

    def market_book_get(self, symbol: str, /) -> tuple[BookInfo, ...] | None:
        values = self._request("market_book_get", symbol=symbol)
        return None if values is None else tuple(BookInfo(*row) for row in values)

    def market_book_release(self, symbol: str, /) -> bool:
        return self._request("market_book_release", symbol=symbol) is True

    def copy_rates_from(self, symbol: str, timeframe: int, date_from: Date, count: int, /) -> Records | None:
        return self._array(
            "copy_rates_from", symbol=symbol, timeframe=timeframe, date_from=_epoch(date_from), count=count
        )

    def copy_rates_from_pos(self, symbol: str, timeframe: int, start_pos: int, count: int, /) -> Records | None:
        return self._array("copy_rates_from_pos", symbol=symbol, timeframe=timeframe, start_pos=start_pos, count=count)

    def copy_rates_range(self, symbol: str, timeframe: int, date_from: Date, date_to: Date, /) -> Records | None:
        return self._array(
            "copy_rates_range",
            symbol=symbol,
            timeframe=timeframe,
            date_from=_epoch(date_from),
            date_to=_epoch(date_to),
        )

    def copy_ticks_from(self, symbol: str, date_from: Date, count: int, flags: int, /) -> Records | None:
        return self._array("copy_ticks_from", symbol=symbol, date_from=_epoch(date_from), count=count, flags=flags)

    def copy_ticks_range(self, symbol: str, date_from: Date, date_to: Date, flags: int, /) -> Records | None:
        return self._array(
            "copy_ticks_range", symbol=symbol, date_from=_epoch(date_from), date_to=_epoch(date_to), flags=flags
        )

    # --- the account side: records cross as plain tuples; order_check's request as (key, value) pairs ---

    def orders_total(self) -> int | None:
        return self._request("orders_total")  # type: ignore[no-any-return]

    def orders_get(self, **filters: Any) -> tuple[TradeOrder, ...] | None:
        values = self._request("orders_get", **filters)
        return None if values is None else tuple(TradeOrder(*row) for row in values)

    def positions_total(self) -> int | None:
        return self._request("positions_total")  # type: ignore[no-any-return]

    def positions_get(self, **filters: Any) -> tuple[TradePosition, ...] | None:
        values = self._request("positions_get", **filters)
        return None if values is None else tuple(TradePosition(*row) for row in values)

    def history_orders_total(self, date_from: Date, date_to: Date, /) -> int | None:
        return self._request("history_orders_total", date_from=_epoch(date_from), date_to=_epoch(date_to))  # type: ignore[no-any-return]

    def history_orders_get(self, *dates: Date, **filters: Any) -> tuple[TradeOrder, ...] | None:
        values = self._request("history_orders_get", dates=tuple(_epoch(d) for d in dates), **filters)
        return None if values is None else tuple(TradeOrder(*row) for row in values)

    def history_deals_total(self, date_from: Date, date_to: Date, /) -> int | None:
        return self._request("history_deals_total", date_from=_epoch(date_from), date_to=_epoch(date_to))  # type: ignore[no-any-return]

    def history_deals_get(self, *dates: Date, **filters: Any) -> tuple[TradeDeal, ...] | None:
        values = self._request("history_deals_get", dates=tuple(_epoch(d) for d in dates), **filters)
        return None if values is None else tuple(TradeDeal(*row) for row in values)

    def order_calc_margin(self, action: int, symbol: str, volume: float, price: float, /) -> float | None:
        return self._request("order_calc_margin", action=action, symbol=symbol, volume=volume, price=price)  # type: ignore[no-any-return]

    def order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float, /
    ) -> float | None:
        value = self._request("order_calc_profit", action=action, symbol=symbol, volume=volume,
                              price_open=price_open, price_close=price_close)  # fmt: skip
        return value  # type: ignore[no-any-return]

    def order_check(self, request: dict[str, object], /) -> OrderCheckResult | None:
        pairs = tuple(request.items()) if isinstance(request, dict) else request
        values = self._request("order_check", request=pairs)
        return None if values is None else OrderCheckResult._make((*values[:-1], TradeRequest(*values[-1])))

    def _array(self, function: str, **kwargs: object) -> Records | None:
        array: Records | None = self._request(function, **kwargs)  # decoded and checked by _check_reply
        return array

    def control(self, name: str, *args: object) -> Any:
        """Call ``sim_<name>`` on a bridge started with ``--allow-simulator-control`` (tests and demos).

        Unlike the port, this raises: ``ConnectionError`` when the bridge cannot be reached, the remote
        exception when it refuses, :class:`BridgeProtocolError` for an answer that is not plain data.
        """
        with self._lock:
            try:
                if self._conn is None:
                    self._connect()
                value = getattr(self._root, f"exposed_sim_{name}")(*args)
            except _Failed as failed:
                self._drop()
                raise ConnectionError(f"bridge {self._host}:{self._port} unavailable: {failed.error}") from None
            except (EOFError, OSError):
                self._drop()
                raise
        if not is_plain(value):
            raise BridgeProtocolError(f"sim_{name}: the bridge answered something other than plain data")
        return value

    # --- internals --------------------------------------------------------------------------------

    def _request(self, function: str, **kwargs: object) -> Any:
        """Call ``function`` on the bridge; its result (checked, plain data) or ``None`` with the error set."""
        with self._lock:
            try:
                if self._conn is None:
                    self._connect()
                remote = self._methods.get(function)
                if remote is None:  # looking a method up on the service is a round trip of its own: once per connection
                    remote = self._methods[function] = getattr(self._root, f"exposed_{function}")
                reply = remote(**kwargs)
                value, error = _check_reply(function, reply)
            except _Failed as failed:
                self._drop()
                self._error = failed.error
                return None
            except TimeoutError:
                self._fail(function, error_tuple(RES_E_INTERNAL_FAIL_TIMEOUT), "no answer in time")
                return None
            except (EOFError, OSError) as exc:
                self._fail(function, error_tuple(RES_E_INTERNAL_FAIL_RECEIVE), _describe(exc))
                return None
            except Exception as exc:  # a remote exception or a malformed answer: the connection is suspect
                self._fail(function, error_tuple(RES_E_INTERNAL_FAIL), _describe(exc))
                return None
            self._error = error
            return value

    def _connect(self) -> None:
        """Open, secure and authenticate a connection; raise :class:`_Failed` with the IPC error if impossible."""
        from rpyc.core.service import VoidService
        from rpyc.core.stream import SocketStream
        from rpyc.utils.factory import connect_stream

        try:
            sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        except OSError as exc:  # refused, unreachable, unresolvable, timed out
            raise self._failed("connect", error_tuple(RES_E_INTERNAL_FAIL_CONNECT), _describe(exc)) from None
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._host)
            sock.sendall(self._hello)
            ack = recv_exact(sock, 1)
        except ssl.SSLError as exc:
            sock.close()
            error = error_tuple(RES_E_INTERNAL_FAIL_INIT, "IPC initialize failed, TLS handshake with the bridge failed")
            raise self._failed("connect", error, _describe(exc)) from None
        except (OSError, EOFError) as exc:
            sock.close()
            raise self._failed("connect", error_tuple(RES_E_INTERNAL_FAIL_CONNECT), _describe(exc)) from None
        if ack != ACK_OK:
            sock.close()
            error = error_tuple(RES_E_INTERNAL_FAIL_INIT, "IPC initialize failed, the bridge refused the token")
            raise self._failed("connect", error, "token refused")
        sock.settimeout(None)  # from here on, RPyC's own request timeout applies
        config = SAFE_PROTOCOL_CONFIG | {"sync_request_timeout": self._timeout}
        self._stream = SocketStream(sock)
        self._conn = connect_stream(self._stream, VoidService, config)
        self._root = self._conn.root  # a reference to the service: its methods are called by name
        self._log.info("mt5.bridge.connected")

    def _failed(self, stage: str, error: tuple[int, str], reason: str) -> _Failed:
        self._log.warning("mt5.bridge.unavailable", stage=stage, reason=reason, mt5_code=error[0])
        return _Failed(error)

    def _fail(self, function: str, error: tuple[int, str], reason: str) -> None:
        self._log.warning("mt5.bridge.call_failed", function=function, reason=reason, mt5_code=error[0])
        self._drop()
        self._error = error

    def _drop(self, goodbye: bool = False) -> None:
        """Forget the connection. After a failure, close the socket first: RPyC's ``close()`` sends a goodbye and
        waits up to a full ``MT5_BRIDGE_TIMEOUT`` for a stalled peer to answer it, doubling the time a call takes."""
        conn, stream, self._conn, self._root, self._stream = self._conn, self._stream, None, None, None
        self._methods = {}
        if stream is not None and not goodbye:
            with contextlib.suppress(Exception):
                stream.close()
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to close cleanly
                conn.close()

    def __repr__(self) -> str:
        state = "connected" if self._conn is not None else "disconnected"
        tls = " tls" if self._tls is not None else ""
        return f"<BridgeTerminal {self._host}:{self._port}{tls} {state}>"


class _Failed(Exception):
    def __init__(self, error: tuple[int, str]) -> None:
        super().__init__(error)
        self.error = error


_SHAPES: dict[str, int] = {
    "account_info": len(AccountInfo._fields),
    "terminal_info": len(TerminalInfo._fields),
    "version": 3,
    "symbol_info": len(SymbolInfo._fields),
    "symbol_info_tick": len(Tick._fields),
}
_LIST_SHAPES: dict[str, int] = {
    "symbols_get": len(SymbolInfo._fields),
    "market_book_get": len(BookInfo._fields),
    "orders_get": len(TradeOrder._fields),
    "positions_get": len(TradePosition._fields),
    "history_orders_get": len(TradeOrder._fields),
    "history_deals_get": len(TradeDeal._fields),
}
_INT_FUNCTIONS = frozenset(
    {"symbols_total", "orders_total", "positions_total", "history_orders_total", "history_deals_total"}
)
_ARRAYS = {
    "copy_rates_from": RATES_DTYPE,
    "copy_rates_from_pos": RATES_DTYPE,
    "copy_rates_range": RATES_DTYPE,
    "copy_ticks_from": TICKS_DTYPE,
    "copy_ticks_range": TICKS_DTYPE,
}


def _check_reply(function: str, reply: object) -> tuple[Any, tuple[int, str]]:
    """``(value, last_error)`` from the bridge, checked: plain data of the function's shape (arrays decoded), or
    an error."""
    if not is_plain(reply, allow_bytes=True) or not isinstance(reply, tuple) or len(reply) != 2:
        raise BridgeProtocolError(f"{function}: the bridge answered something other than plain data")
    value, error = reply
    if not (isinstance(error, tuple) and len(error) == 2 and type(error[0]) is int and type(error[1]) is str):
        raise BridgeProtocolError(f"{function}: malformed last_error from the bridge")
    if value is not None and function in _ARRAYS:
        try:
            return decode_array(value, _ARRAYS[function]), (error[0], error[1])
        except ValueError as exc:
            raise BridgeProtocolError(f"{function}: {exc}") from None
    if function in _SHAPES:
        ok = value is None or (type(value) is tuple and len(value) == _SHAPES[function])
    elif function in _LIST_SHAPES:
        size = _LIST_SHAPES[function]
        ok = value is None or (type(value) is tuple and all(type(v) is tuple and len(v) == size for v in value))
    elif function in _INT_FUNCTIONS:
        ok = value is None or type(value) is int
    elif function in ("order_calc_margin", "order_calc_profit"):
        ok = value is None or type(value) is float
    elif function == "order_check":
        size, request_size = len(OrderCheckResult._fields), len(TradeRequest._fields)
        ok = value is None or (type(value) is tuple and len(value) == size and type(value[-1]) is tuple
                               and len(value[-1]) == request_size)  # fmt: skip
    elif function in _ARRAYS:
        ok = value is None
    else:
        ok = type(value) is bool
    if not ok or (type(value) is bytes):
        raise BridgeProtocolError(f"{function}: unexpected result shape from the bridge")
    return value, (error[0], error[1])


def _epoch(date: Date) -> object:
    """A date argument as the bridge sends it: a datetime as epoch seconds, anything else as it is (the terminal
    judges it)."""
    return int(date.timestamp()) if isinstance(date, datetime) else date


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
