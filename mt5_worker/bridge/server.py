"""``mt5-worker bridge``: serve one local terminal's port functions, and nothing else, to bridge clients.

Runs beside the terminal (on Windows, or under Wine's Python) and lets Linux workers use it with
``MT5_BACKEND=bridge``. Unlike classic-mode RPyC it offers no remote code execution: what a connection may
call is :mod:`mt5_worker.bridge.service`'s allow-list, and this module decides who may connect. Every
connection authenticates before RPyC starts: optional TLS (``MT5_BRIDGE_CERTFILE`` and ``MT5_BRIDGE_KEYFILE``,
through RPyC's ``SSLAuthenticator``), then the shared token (``MT5_BRIDGE_TOKEN``), compared in constant time;
refusals are logged without the token.

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
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from rpyc.utils.authenticators import AuthenticationError, SSLAuthenticator
from rpyc.utils.helpers import classpartial
from rpyc.utils.server import ThreadedServer

from mt5_worker.backends import create_terminal
from mt5_worker.bridge.core import BridgeCore, format_address
from mt5_worker.bridge.service import BridgeService
from mt5_worker.bridge.simulator_control import SIMULATOR_CONTROL
from mt5_worker.bridge.wire import (
    ACK_OK,
    ACK_REFUSED,
    ACK_VERSION,
    HEADER,
    MAGIC,
    MAX_TOKEN_BYTES,
    SAFE_PROTOCOL_CONFIG,
    VERSION,
    recv_exact,
)
from mt5_worker.errors import SettingsError
from mt5_worker.logging import configure_logging, get_logger
from mt5_worker.settings import Settings, env_name
from mt5_worker.terminal.port import Terminal

HANDSHAKE_TIMEOUT = 10.0  # seconds a new connection has to finish TLS and present its token
SHUTDOWN_WAIT = 5.0  # seconds to wait for an in-flight call before shutting the terminal down on exit
SERVED = ("metatrader5", "simulator")  # the backends a bridge serves (a bridge does not serve another one)


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
        peer = format_address(_peername(sock))
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
            if magic != MAGIC:
                self._refuse(sock, peer, "not a bridge client (bad handshake)")
            if version != VERSION:
                self._refuse(sock, peer, f"bridge protocol {version}, this bridge speaks {VERSION}", ack=ACK_VERSION)
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

    def _refuse(
        self, sock: socket.socket, peer: str, reason: str, *, reply: bool = True, ack: bytes = ACK_REFUSED
    ) -> NoReturn:
        self._log.warning("mt5.bridge.refused", peer=peer, reason=reason)
        if reply:
            with contextlib.suppress(OSError):
                sock.sendall(ack)
        raise AuthenticationError(reason)


def _peername(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None


# --- the server -----------------------------------------------------------------------------------------


def build_server(
    settings: Settings,
    backend: str | None = None,
    *,
    allow_simulator_control: bool = False,
    host: str | None = None,
    port: int | None = None,
    terminal: Terminal | None = None,
) -> tuple[ThreadedServer, BridgeCore]:
    """A bound (not yet started) bridge server; raises :class:`SettingsError` for an unsafe or bad set-up."""
    backend = backend or settings.bridge_backend
    if backend not in SERVED:
        raise SettingsError(f"{env_name('bridge_backend')}: expected one of {list(SERVED)}, got {backend!r}")
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
    core = BridgeCore(
        terminal if terminal is not None else create_terminal(settings, backend),
        settings,
        allow_simulator_control=allow_simulator_control,
        control=SIMULATOR_CONTROL,
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
        "--backend", choices=SERVED, help="adapter to serve (default: MT5_BRIDGE_BACKEND, else per platform)"
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
