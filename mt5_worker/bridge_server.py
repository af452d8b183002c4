"""``mt5-worker bridge``: serve one local terminal's port functions, and nothing else, to bridge clients.

Runs beside the terminal (on Windows, or under Wine's Python) and lets Linux workers use it with
``MT5_BACKEND=bridge``. Unlike classic-mode RPyC it offers no remote code execution:

- an RPyC *service* whose only reachable names are the port's functions (an allow-list enforced by the
  service itself, on a connection whose request handlers are cut down to calls and reference counting);
- every connection authenticates before RPyC starts: optional TLS (``MT5_BRIDGE_CERTFILE`` and
  ``MT5_BRIDGE_KEYFILE``, through RPyC's ``SSLAuthenticator``), then the shared token (``MT5_BRIDGE_TOKEN``),
  compared in constant time; refusals are logged without the token;
- arguments must be plain builtins (a remote reference is refused as an invalid argument), and answers are
  plain tuples ``(result, last_error)``, never references to objects in this process;
- one terminal call at a time (the terminal, like the SDK, is single-threaded), each logged as
  ``mt5.bridge.call`` without its password.

``--allow-simulator-control`` (simulator backend only) adds a few ``sim_*`` functions that tests and demos use
to drive the simulated terminal (inject faults, crash it, read its counters). Never on a real terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import rpyc
from rpyc.core import consts
from rpyc.core.protocol import Connection
from rpyc.utils.authenticators import AuthenticationError, SSLAuthenticator
from rpyc.utils.helpers import classpartial
from rpyc.utils.server import ThreadedServer

from mt5_worker.config import AccountSpec, Settings, SettingsError, env_name
from mt5_worker.logging import configure_logging, get_logger
from mt5_worker.terminal.base import (
    FUNCTIONS,
    RES_E_FAIL,
    RES_E_INVALID_PARAMS,
    SUCCESS,
    Terminal,
    error_tuple,
)
from mt5_worker.terminal.bridge import (
    ACK_OK,
    ACK_REFUSED,
    HEADER,
    MAGIC,
    MAX_TOKEN_BYTES,
    PLAIN_TYPES,
    SAFE_PROTOCOL_CONFIG,
    VERSION,
    is_plain,
    recv_exact,
)

HANDSHAKE_TIMEOUT = 10.0  # seconds a new connection has to finish TLS and present its token
SHUTDOWN_WAIT = 5.0  # seconds to wait for an in-flight call before shutting the terminal down on exit
BACKENDS = ("metatrader5", "simulator")
SIMULATOR_CONTROL = (
    "sim_reset",
    "sim_inject_fault",
    "sim_clear_faults",
    "sim_crash",
    "sim_reset_counters",
    "sim_calls",
    "sim_max_concurrent_calls",
    "sim_active_login",
    "sim_accounts",
)
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


class _BridgeConnection(Connection):  # type: ignore[misc]
    """An RPyC connection that handles only calls, root and reference bookkeeping: no setattr, delattr,
    dir, comparisons, pickling, iteration or context managers on this process's objects."""

    @classmethod
    def _request_handlers(cls) -> dict[int, Any]:
        handlers: dict[int, Any] = super()._request_handlers()
        return {code: handler for code, handler in handlers.items() if code in _ALLOWED_HANDLERS}


class _Core:
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
            result: Any = None if function in ("account_info", "terminal_info", "version") else False
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
    value: tuple[Any, ...] | bool | None = bool(result)
    if function in ("account_info", "terminal_info", "version"):
        value = None if result is None else tuple(result)
    if not is_plain(value):
        raise TypeError(f"{function} returned values that are not plain data")
    return value


def _first_not_plain(arguments: dict[str, Any]) -> str | None:
    return next((name for name, value in arguments.items() if type(value) not in PLAIN_TYPES), None)


class BridgeService(rpyc.Service):  # type: ignore[misc]
    """The service one connection sees: the port's functions (plus simulator control when enabled).

    Names resolve only through :meth:`_rpyc_getattr`'s allow-list, never RPyC's default attribute rules.
    """

    _protocol = _BridgeConnection

    def __init__(self, core: _Core) -> None:
        self._core = core
        self._peer = "unknown"

    def on_connect(self, conn: Any) -> None:
        endpoints = conn._config.get("endpoints")
        if endpoints:
            self._peer = _format_address(endpoints[1])
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

    # --- simulator control (only with --allow-simulator-control and the simulator backend) -----------

    def exposed_sim_reset(
        self, accounts: tuple[tuple[Any, ...], ...] | None = None, latency: tuple[tuple[str, float], ...] | None = None
    ) -> None:
        """A fresh simulator (as after a restart) with these accounts (:func:`account_row` tuples) and latencies
        (``(function, seconds)`` pairs); ``None`` keeps what the bridge's settings say."""
        from mt5_worker.terminal.simulator import SimulatedTerminal

        _require_plain(accounts=accounts, latency=latency)
        specs = None if accounts is None else [_account_from_row(row) for row in accounts]
        settings = self._core.settings
        with self._core.lock:
            self._core.terminal = SimulatedTerminal(
                specs if specs is not None else (_accounts_from_settings(settings)),
                latency=settings.simulator_latency if latency is None else dict(latency),
                faults=settings.simulator_faults,
                seed=settings.simulator_seed,
            )
        self._core.log.info("mt5.bridge.simulator_reset", peer=self._peer)

    def exposed_sim_inject_fault(
        self, function: str, fail_first: int = 0, rate: float = 0.0, code: int = -10004
    ) -> None:
        _require_plain(function=function, fail_first=fail_first, rate=rate, code=code)
        with self._core.lock:
            self._sim().inject_fault(function, fail_first=fail_first, rate=rate, code=code)

    def exposed_sim_clear_faults(self) -> None:
        with self._core.lock:
            self._sim().clear_faults()

    def exposed_sim_crash(self, code: int | None = None) -> None:
        _require_plain(code=code)
        with self._core.lock:
            if code is None:
                self._sim().crash()
            else:
                self._sim().crash(code)

    def exposed_sim_reset_counters(self) -> None:
        with self._core.lock:
            self._sim().reset_counters()

    # Readers do not wait for the terminal lock, so a test can watch a call that is still in flight.

    def exposed_sim_calls(self) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(dict(self._sim().calls).items()))  # dict(): one atomic copy of the Counter

    def exposed_sim_max_concurrent_calls(self) -> int:
        return int(self._sim().max_concurrent_calls)

    def exposed_sim_active_login(self) -> int | None:
        login: int | None = self._sim().active_login
        return login

    def exposed_sim_accounts(self) -> tuple[tuple[Any, ...], ...]:
        return tuple(account_row(a) for a in self._sim().accounts)

    def _sim(self) -> Any:
        from mt5_worker.terminal.simulator import SimulatedTerminal

        terminal = self._core.terminal
        if not isinstance(terminal, SimulatedTerminal):
            raise TypeError("simulator control needs the simulator backend")
        return terminal


ACCOUNT_ROW_FIELDS = ("login", "password", "server", "name", "balance", "equity", "currency", "leverage", "company")


def account_row(account: AccountSpec) -> tuple[Any, ...]:
    """An account as plain data for simulator control (test accounts only: it carries the password)."""
    values = account.model_dump()
    values["password"] = account.password.get_secret_value()
    return tuple(values[name] for name in ACCOUNT_ROW_FIELDS)


def _account_from_row(row: tuple[Any, ...]) -> AccountSpec:
    return AccountSpec.model_validate(dict(zip(ACCOUNT_ROW_FIELDS, row, strict=True)))


def _accounts_from_settings(settings: Settings) -> tuple[AccountSpec, ...] | None:
    from mt5_worker.config import load_accounts

    return load_accounts(settings.simulator_accounts) if settings.simulator_accounts else None


def _require_plain(**arguments: Any) -> None:
    bad = next((name for name, value in arguments.items() if not is_plain(value)), None)
    if bad is not None:
        raise TypeError(f"argument {bad!r} must be plain data")


# --- authentication -------------------------------------------------------------------------------------


class TokenAuthenticator:
    """RPyC authenticator: optional TLS first, then the token frame, compared in constant time.

    Refusals raise :class:`AuthenticationError` (RPyC then closes the socket) and are logged with the peer
    and the reason, never with what the client sent.
    """

    def __init__(self, token: str, *, tls: SSLAuthenticator | None = None, timeout: float = HANDSHAKE_TIMEOUT) -> None:
        self._digest = hashlib.sha256(token.encode("utf-8")).digest()
        self._tls = tls
        self._timeout = timeout
        self._log = get_logger("mt5_worker.bridge")

    def __call__(self, sock: socket.socket) -> tuple[socket.socket, Any]:
        peer = _format_address(_peername(sock))
        sock.settimeout(self._timeout)  # a silent client must not hold a thread forever
        credentials: Any = None
        if self._tls is not None:
            try:
                sock, credentials = self._tls(sock)
            except AuthenticationError:
                self._refuse(sock, peer, "TLS handshake failed", reply=False)
            except OSError as exc:
                self._refuse(sock, peer, f"TLS handshake failed ({type(exc).__name__})", reply=False)
        try:
            magic, version, length = HEADER.unpack(recv_exact(sock, HEADER.size))
            if magic != MAGIC or version != VERSION:
                self._refuse(sock, peer, "not a bridge client (bad handshake)")
            if length == 0:
                self._refuse(sock, peer, "missing token")
            if length > MAX_TOKEN_BYTES:
                self._refuse(sock, peer, "bad handshake (token too long)")
            presented = recv_exact(sock, length)
        except (OSError, EOFError) as exc:
            self._refuse(sock, peer, f"handshake incomplete ({type(exc).__name__})", reply=False)
        # Digests have equal length, so compare_digest's time does not depend on the presented token at all.
        if not hmac.compare_digest(hashlib.sha256(presented).digest(), self._digest):
            self._refuse(sock, peer, "wrong token")
        try:
            sock.sendall(ACK_OK)
        except OSError as exc:
            self._refuse(sock, peer, f"handshake incomplete ({type(exc).__name__})", reply=False)
        sock.settimeout(None)
        self._log.info("mt5.bridge.authenticated", peer=peer, tls=self._tls is not None)
        return sock, credentials

    def _refuse(self, sock: socket.socket, peer: str, reason: str, *, reply: bool = True) -> NoReturn:
        self._log.warning("mt5.bridge.refused", peer=peer, reason=reason)
        if reply:
            with contextlib.suppress(OSError):
                sock.sendall(ACK_REFUSED)
        raise AuthenticationError(reason)


def _peername(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


# --- the server -----------------------------------------------------------------------------------------


def make_terminal(settings: Settings, backend: str) -> Terminal:
    """The local adapter the bridge serves."""
    if backend == "metatrader5":
        from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal

        return MetaTrader5Terminal()
    if backend == "simulator":
        from mt5_worker.terminal.simulator import SimulatedTerminal

        return SimulatedTerminal.from_settings(settings)
    raise SettingsError(f"{env_name('bridge_backend')}: expected one of {list(BACKENDS)}, got {backend!r}")


def build_server(
    settings: Settings,
    backend: str | None = None,
    *,
    allow_simulator_control: bool = False,
    host: str | None = None,
    port: int | None = None,
    terminal: Terminal | None = None,
) -> tuple[ThreadedServer, _Core]:
    """A bound (not yet started) bridge server; raises :class:`SettingsError` for an unsafe or bad set-up."""
    backend = backend or settings.bridge_backend
    if settings.bridge_token is None or not settings.bridge_token.get_secret_value():
        raise SettingsError(
            f"{env_name('bridge_token')} must be set: every bridge client authenticates with this shared secret"
        )
    token = settings.bridge_token.get_secret_value()
    if len(token.encode("utf-8")) > MAX_TOKEN_BYTES:
        raise SettingsError(f"{env_name('bridge_token')}: at most {MAX_TOKEN_BYTES} bytes")
    if allow_simulator_control and backend != "simulator":
        raise SettingsError("--allow-simulator-control is only for the simulator backend, never a real terminal")
    certfile, keyfile = settings.bridge_certfile, settings.bridge_keyfile
    if (certfile is None) != (keyfile is None):
        raise SettingsError(
            f"TLS needs both {env_name('bridge_certfile')} and {env_name('bridge_keyfile')}, or neither"
        )
    tls = None
    if certfile is not None and keyfile is not None:
        for name, path in (("bridge_certfile", certfile), ("bridge_keyfile", keyfile)):
            if not path.is_file():
                raise SettingsError(f"{env_name(name)}: no such file {path}")
        tls = SSLAuthenticator(keyfile=str(keyfile), certfile=str(certfile))
    core = _Core(
        terminal if terminal is not None else make_terminal(settings, backend),
        settings,
        allow_simulator_control=allow_simulator_control,
    )
    rpyc_logger = logging.getLogger("mt5_worker.bridge.rpyc")
    rpyc_logger.setLevel(logging.WARNING)  # RPyC's own chatter; our structlog lines say what matters
    server = ThreadedServer(
        classpartial(BridgeService, core),
        hostname=host if host is not None else settings.bridge_host,
        port=port if port is not None else settings.bridge_port,
        authenticator=TokenAuthenticator(token, tls=tls),
        protocol_config=dict(SAFE_PROTOCOL_CONFIG),
        logger=rpyc_logger,
    )
    if tls is None and not _is_loopback(server.host):
        core.log.warning(
            "mt5.bridge.plaintext",
            message="listening beyond loopback without TLS: the token and passwords cross the network in clear; "
            f"set {env_name('bridge_certfile')} and {env_name('bridge_keyfile')}",
        )
    return server, core


def serve(
    settings: Settings,
    backend: str | None = None,
    *,
    allow_simulator_control: bool = False,
    host: str | None = None,
    port: int | None = None,
    ready: Callable[[str, int], None] | None = None,
) -> None:
    """Run the bridge until SIGTERM/SIGINT (blocking), then shut the terminal connection down."""
    server, core = build_server(
        settings, backend, allow_simulator_control=allow_simulator_control, host=host, port=port
    )

    def stop(signum: int, _frame: Any) -> None:
        core.log.info("mt5.bridge.stopping", signal=signal.Signals(signum).name)
        server.close()  # start() returns once its accept loop sees the closed listener

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop)
    server._listen()  # listen before announcing the port: start() would only do it later
    core.log.info(
        "mt5.bridge.started",
        host=server.host,
        port=server.port,
        backend=getattr(core.terminal, "backend", "?"),
        tls=settings.bridge_certfile is not None,
        simulator_control=allow_simulator_control,
    )
    if ready is not None:
        ready(server.host, server.port)
    try:
        server.start()  # returns after close(): SIGTERM or SIGINT through ``stop``
    finally:
        server.close()
        if core.lock.acquire(timeout=SHUTDOWN_WAIT):
            try:
                core.terminal.shutdown()
            finally:
                core.lock.release()
        core.log.info("mt5.bridge.stopped")


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mt5-worker bridge",
        description="Serve this host's MetaTrader 5 terminal to mt5-worker workers (MT5_BACKEND=bridge). "
        "The token is read from MT5_BRIDGE_TOKEN only, never from the command line.",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, help="adapter to serve (default: MT5_BRIDGE_BACKEND, else per platform)"
    )
    parser.add_argument("--host", help="address to listen on (default: MT5_BRIDGE_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port, 0 for any free one (default: MT5_BRIDGE_PORT, 18812)")
    parser.add_argument(
        "--allow-simulator-control",
        action="store_true",
        help="tests and demos: let clients inject faults into and crash the simulator (simulator backend only)",
    )
    args = parser.parse_args(argv)
    if args.port is not None and not 0 <= args.port <= 65535:
        parser.error("--port must be 0-65535")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """``mt5-worker bridge [--backend metatrader5|simulator] [--host H] [--port P]``; the exit status."""
    args = parse_args(argv)
    try:
        settings = Settings.load()
        configure_logging(settings.log_format, settings.log_level)
        serve(
            settings,
            args.backend,
            allow_simulator_control=args.allow_simulator_control,
            host=args.host,
            port=args.port,
        )
    except SettingsError as exc:
        print(f"mt5-worker bridge: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # cannot bind, typically
        print(f"mt5-worker bridge: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
