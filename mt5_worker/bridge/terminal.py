"""Client adapter for a terminal served by ``mt5-worker bridge`` (``MT5_BACKEND=bridge``).

The bridge (:mod:`mt5_worker.bridge.server`) runs beside the real terminal and serves the port's functions,
and nothing else, over an RPyC *service*. This adapter implements the same port on the worker's side:

- It connects lazily on the first call, and again on the call after any failure. Each connection opens
  with a handshake (:mod:`mt5_worker.bridge.wire`) before RPyC starts: an optional TLS layer
  (``MT5_BRIDGE_CERTFILE`` is the certificate the client trusts), then the shared token
  (``MT5_BRIDGE_TOKEN``), which the bridge acknowledges or refuses.
- Every call is one round trip that answers ``(result, last_error)``; ``last_error()`` is answered locally.
  What crosses, both ways, is :mod:`mt5_worker.bridge.codec`'s, derived from the SDK table: results are
  rebuilt here as the port's records, bars and ticks accepted only with the port's exact columns; anything else
  (a remote reference, a wrong shape) is refused like a broken pipe. Date arguments cross as epoch seconds (a
  ``datetime`` is converted here by ``timestamp()``, in this process's time zone).
- Transport trouble never raises. It surfaces as the SDK's IPC codes, which the manager treats as transient
  (the terminal is marked lost and initialized again) and Celery retries:

  ======================================  =====================================================
  what happened                           ``last_error()``
  ======================================  =====================================================
  bridge unreachable, connection refused  ``(-10004, 'No IPC connection')``
  bridge refused the token, TLS, version  ``(-10003, 'IPC initialize failed, <why>')``
  connection lost during a call           ``(-10002, 'IPC recv failed')``
  no answer within ``MT5_BRIDGE_TIMEOUT``  ``(-10005, 'IPC timeout')``
  unexpected answer or remote error       ``(-10000, 'IPC call failed')``
  ======================================  =====================================================

``MT5_BRIDGE_TIMEOUT`` bounds each network wait (connecting, the handshake, and each call's answer), so it
must exceed the SDK ``timeout`` (``MT5_TERMINAL_TIMEOUT``, in ms) that ``initialize``/``login`` may use on
the terminal host, plus a cold start's pipe wait if the terminal is not running yet.

This module is the transport (connection, handshake, one request at a time, failures as IPC codes); the port's
methods are made from the SDK table (:func:`~mt5_worker.terminal.functions.install_port_methods`).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretStr

from mt5_worker.bridge.codec import BridgeProtocolError, decode_reply, encode_arguments
from mt5_worker.bridge.wire import ACK_OK, ACK_VERSION, SAFE_PROTOCOL_CONFIG, hello, is_plain, recv_exact
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
from mt5_worker.terminal.functions import FunctionSpec, install_port_methods


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
        self._log = get_logger("mt5_worker.bridge.terminal").bind(bridge=f"{host}:{port}")

    @property
    def connected(self) -> bool:
        """True while a connection to the bridge is open (it may still turn out to be dead)."""
        return self._conn is not None

    def close(self) -> None:
        """Drop the connection to the bridge; the next call reconnects. The remote terminal stays as it is."""
        with self._lock:
            self._drop(goodbye=True)

    def last_error(self) -> tuple[int, str]:
        """The error of this adapter's latest call: the bridge's answer, or the transport failure."""
        return self._error

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

    def _call(self, spec: FunctionSpec, arguments: dict[str, Any]) -> Any:
        value = self._request(spec, encode_arguments(spec, arguments))
        return value is True if spec.returns.kind == "bool" else value

    def _request(self, spec: FunctionSpec, kwargs: dict[str, object]) -> Any:
        """Call ``spec``'s function on the bridge; its result (checked, rebuilt) or ``None`` with the error set."""
        function = spec.name
        with self._lock:
            try:
                if self._conn is None:
                    self._connect()
                remote = self._methods.get(function)
                if remote is None:  # looking a method up on the service is a round trip of its own: once per connection
                    remote = self._methods[function] = getattr(self._root, f"exposed_{function}")
                reply = remote(**kwargs)
                value, error = decode_reply(spec, reply)
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
        if ack == ACK_VERSION:
            sock.close()
            error = error_tuple(
                RES_E_INTERNAL_FAIL_INIT,
                "IPC initialize failed, the bridge speaks another protocol version: run the same mt5-worker on both",
            )
            raise self._failed("connect", error, "protocol version refused")
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


install_port_methods(BridgeTerminal, BridgeTerminal._call)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
