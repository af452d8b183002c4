"""The remote terminal bridge: real bridge processes on loopback, real sockets, no mocks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import rpyc
from rpyc.core import consts
from rpyc.core.netref import BaseNetref
from rpyc.core.service import VoidService
from rpyc.core.stream import SocketStream
from rpyc.utils.factory import connect_stream

from mt5_worker.backends import bridge_terminal
from mt5_worker.bridge.terminal import BridgeTerminal
from mt5_worker.bridge.wire import ACK_OK, ACK_REFUSED, HEADER, MAGIC, VERSION, hello, recv_exact
from mt5_worker.codes import IPC_CODES, is_transient
from mt5_worker.errors import TransientMT5Error
from mt5_worker.manager import MT5ConnectionManager, TerminalState
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.terminal.port import AccountInfo, TerminalInfo
from tests.conftest import creds, simulator

if TYPE_CHECKING:
    from tests.bridge_fixtures import BridgeProcess, RemoteSimulator

# bridge_process, bridge_sim, bridge_terminal_factory, bridge_factory: from conftest once it imports them,
# else registered here (registering a module conftest already imported would only earn a rewrite warning).
pytest_plugins = [] if "tests.bridge_fixtures" in sys.modules else ["tests.bridge_fixtures"]

A, B = DEMO_ACCOUNTS[:2]
NO_IPC = (-10004, "No IPC connection")
RECV_FAILED = (-10002, "IPC recv failed")
IPC_TIMEOUT = (-10005, "IPC timeout")
SUCCESS = (1, "Success")

BridgeFactory = Callable[..., "BridgeProcess"]


@contextmanager
def raw_connection(bridge: BridgeProcess, token: str | None = None) -> Iterator[Any]:
    """An authenticated RPyC connection without the adapter: what a hostile client with the token holds."""
    sock = socket.create_connection((bridge.host, bridge.port), timeout=5)
    sock.sendall(hello(token or bridge.token))
    assert recv_exact(sock, 1) == ACK_OK
    sock.settimeout(None)
    conn = connect_stream(SocketStream(sock), VoidService, {"sync_request_timeout": 5})
    try:
        yield conn
    finally:
        conn.close()


def handshake(bridge: BridgeProcess, frame: bytes) -> bytes:
    """Send a raw opening frame; the bridge's one-byte answer (b"" if it just hung up)."""
    with socket.create_connection((bridge.host, bridge.port), timeout=5) as sock:
        sock.sendall(frame)
        try:
            return sock.recv(1)
        except ConnectionResetError:
            return b""


def assert_plain(value: object) -> None:
    assert not isinstance(value, BaseNetref)
    if isinstance(value, tuple):
        for item in value:
            assert_plain(item)
    else:
        assert type(value) in (bool, int, float, str, type(None)), type(value)


# --- the port over the wire ---------------------------------------------------------------------------


def test_port_calls_return_the_sdk_shapes_as_plain_data(bridge_sim: RemoteSimulator) -> None:
    assert (bridge_sim.account_info(), bridge_sim.last_error()) == (None, NO_IPC)
    assert bridge_sim.initialize(timeout=5000) is True
    assert bridge_sim.login(*creds(A)) is True
    info = bridge_sim.account_info()
    terminal = bridge_sim.terminal_info()
    version = bridge_sim.version()
    assert type(info) is AccountInfo and type(terminal) is TerminalInfo
    assert (info.login, info.name, terminal.connected, version) == (A.login, A.name, True, (500, 4755, "20 Nov 2026"))
    for value in (tuple(info), tuple(terminal), version, bridge_sim.last_error()):
        assert_plain(value)
    assert (bridge_sim.login(B.login, "wrong", B.server), bridge_sim.last_error()) == (
        False,
        (-6, "Terminal: Authorization failed"),
    )
    assert bridge_sim.login("x", "pw", A.server) is False  # type: ignore[arg-type]
    assert bridge_sim.last_error() == (-2, 'Invalid "login" argument')
    assert bridge_sim.shutdown() is True
    assert bridge_sim.version() is None and bridge_sim.last_error() == NO_IPC


def test_bridge_answers_exactly_what_a_local_simulator_answers(bridge_sim: RemoteSimulator) -> None:
    local = simulator()
    script: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("version", (), {}),
        ("initialize", (), {"login": A.login, "password": A.password.get_secret_value(), "server": A.server}),
        ("account_info", (), {}),
        ("login", (B.login,), {}),  # no saved password yet
        ("login", creds(B), {"timeout": 1000}),
        ("login", (B.login,), {}),  # saved now
        ("terminal_info", (), {}),
        ("initialize", ("C:/other/terminal64.exe",), {"portable": True}),
        ("account_info", (), {}),
        ("shutdown", (), {}),
        ("terminal_info", (), {}),
    ]
    failures = again = 0
    for function, args, kwargs in script:
        expected = getattr(local, function)(*args, **kwargs)
        expected_error = local.last_error()
        got = getattr(bridge_sim, function)(*args, **kwargs)
        if function == "account_info" and got != expected:
            # Its floating profit moves with the market: a tick came between the two calls, so the local answer
            # just after the bridge's is the one to equal.
            expected, again = local.account_info(), again + 1
        assert (function, got, bridge_sim.last_error()) == (function, expected, expected_error)
        failures += expected is None or expected is False
    # The same terminal calls. last_error() differs by design: the bridge asks the terminal only after a
    # failure (as the manager does) and answers it with the reply, where this script asked after every call.
    remote = bridge_sim.calls
    assert (failures, remote["last_error"]) == (3, 3)
    assert remote - Counter(last_error=3) == local.calls - Counter(last_error=len(script), account_info=again)


def test_arguments_that_are_not_plain_data_are_refused_before_the_terminal(
    bridge_process: BridgeProcess, bridge_sim: RemoteSimulator
) -> None:
    bridge_sim.initialize()
    bridge_sim.reset_counters()
    with raw_connection(bridge_process) as conn:
        # A list crosses RPyC by reference: the bridge would receive a proxy back into this process.
        result, error = conn.root.exposed_login(A.login, ["not", "a", "password"], A.server)
        assert (result, error) == (False, (-2, 'Invalid "password" argument'))
    assert bridge_sim.calls["login"] == 0


# --- authentication and exposure --------------------------------------------------------------------------


def test_wrong_or_missing_token_is_refused_and_logged_without_its_value(bridge_process: BridgeProcess) -> None:
    offset = bridge_process.log_path.stat().st_size
    wrong = "not-the-token-" + bridge_process.token[:6]
    intruder = bridge_process.terminal(token=wrong)
    assert intruder.version() is None
    assert intruder.last_error() == (-10003, "IPC initialize failed, the bridge refused the token")
    assert is_transient(intruder.last_error()[0]) and not intruder.connected
    assert handshake(bridge_process, HEADER.pack(MAGIC, VERSION, 0)) == ACK_REFUSED  # no token at all
    assert handshake(bridge_process, b"GET / HTTP/1.1\r\n\r\n") == ACK_REFUSED
    with pytest.raises((EOFError, ConnectionError)):
        print(rpyc.classic.connect(bridge_process.host, bridge_process.port).modules.os)  # classic client, no token
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        refusals = bridge_process.events("mt5.bridge.refused", since=offset)
        if len(refusals) >= 4:
            break
        time.sleep(0.05)
    assert [e["reason"] for e in refusals] == [
        "wrong token",
        "missing token",
        "not a bridge client (bad handshake)",
        "not a bridge client (bad handshake)",
    ]
    assert all(e["level"] == "warning" and e["peer"].startswith("127.0.0.1:") for e in refusals)
    log = bridge_process.log_text()
    assert wrong not in log and bridge_process.token not in log


def test_an_authenticated_client_reaches_the_port_functions_and_nothing_else(bridge_process: BridgeProcess) -> None:
    with raw_connection(bridge_process) as conn:
        root = conn.root
        value, error = root.exposed_version()
        assert (value, error) == (None, NO_IPC) or value == (500, 4755, "20 Nov 2026")
        assert root.version()[1] == error  # the short names resolve to the same functions
        method = conn.sync_request(consts.HANDLE_GETATTR, root, "exposed_version")  # a reference, by design
        assert isinstance(method, BaseNetref) and method()[1] == error
        refused: list[Callable[[], Any]] = [
            lambda: root._core,
            lambda: root._core.terminal,
            lambda: root.__dict__,
            lambda: conn.sync_request(consts.HANDLE_GETATTR, root, "__class__"),
            lambda: root._rpyc_getattr("_core"),
            lambda: root.exposed_get_service_name(),
            lambda: root.on_connect,
            lambda: method.__self__,  # the bound method's instance: the service, its terminal ...
            lambda: method.__func__,
            lambda: method.__globals__,
            lambda: setattr(root, "exposed_version", None),
            lambda: delattr(root, "exposed_version"),
            lambda: dir(root),
            lambda: root == root,
            lambda: conn.sync_request(consts.HANDLE_PICKLE, root, -1),
            # the classic (SlaveService) API: eval, execute, modules, builtins
            lambda: root.eval("1 + 1"),
            lambda: root.execute("import os"),
            lambda: root.exposed_getmodule("os"),
            lambda: root.getmodule("os"),
            lambda: root.exposed_namespace,
            lambda: rpyc.classic.obtain(root.modules),
        ]
        for attempt in refused:
            with pytest.raises(Exception) as caught:
                attempt()
            assert not isinstance(caught.value, AssertionError)
        assert not hasattr(conn, "modules") and not hasattr(conn, "eval")
        # simulator control exists only because this bridge was started with it (see the next test)
        assert isinstance(root.exposed_sim_calls(), tuple)


def test_simulator_control_is_served_only_when_enabled(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory(simulator_control=False)
    with raw_connection(bridge) as conn:
        assert conn.root.exposed_version()[1] == NO_IPC
        for name in ("exposed_sim_crash", "exposed_sim_calls", "exposed_sim_reset"):
            with pytest.raises(AttributeError):
                getattr(conn.root, name)()
    with pytest.raises(AttributeError):
        bridge.simulator().crash()


# --- one call at a time, logged -------------------------------------------------------------------------


def test_calls_from_many_clients_reach_the_terminal_one_at_a_time_and_are_logged(
    bridge_process: BridgeProcess, bridge_terminal_factory: Callable[..., BridgeTerminal]
) -> None:
    sim = bridge_process.simulator().reset(latency={"account_info": 0.002, "login": 0.002})
    secret = "Sup3r-S3cret-Bridge-Password"
    offset = bridge_process.log_path.stat().st_size
    assert sim.initialize()
    failures: list[str] = []

    def client(account_index: int) -> None:
        terminal = bridge_terminal_factory()
        account = DEMO_ACCOUNTS[account_index]
        for _ in range(15):
            terminal.login(*creds(account))
            info = terminal.account_info()
            if info is None and terminal.last_error()[0] in IPC_CODES:
                failures.append(f"{account.login}: {terminal.last_error()}")
        terminal.login(account.login, secret, account.server)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sim.max_concurrent_calls == 1
    assert sim.calls["login"] == 4 * 16
    # At the default level the bridge logs the failed calls only: the four refused logins (and any account_info
    # another thread's refused login left without an account), each a warning.
    calls = bridge_process.events("mt5.bridge.call", since=offset)
    keys = {"function", "login", "server", "duration_ms", "wait_ms", "ok", "mt5_code", "mt5_message", "peer"}
    assert all(keys <= set(e) for e in calls)
    assert all((e["ok"], e["level"]) == (False, "warning") for e in calls)
    refused = [e for e in calls if e["function"] == "login"]
    assert [-6] * 4 == [e["mt5_code"] for e in refused]
    assert {e["login"] for e in refused} == {a.login for a in DEMO_ACCOUNTS[:4]}
    assert all(e["server"] for e in refused)
    assert secret not in bridge_process.log_text()
    sim.close()


def test_at_debug_level_the_bridge_logs_every_call(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory(env={"MT5_LOG_LEVEL": "DEBUG"})
    terminal = bridge.terminal()
    assert terminal.initialize() is True
    assert terminal.login(*creds(A)) is True
    assert terminal.account_info() is not None
    calls = [(e["function"], e["ok"], e["level"]) for e in bridge.events("mt5.bridge.call")]
    assert [("initialize", True, "debug"), ("login", True, "debug"), ("account_info", True, "debug")] == calls
    assert A.password.get_secret_value() not in bridge.log_text()
    terminal.close()


# --- MT5_BRIDGE_TIMEOUT ----------------------------------------------------------------------------------


def test_bridge_timeout_surfaces_as_ipc_timeout_and_the_next_call_reconnects(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory(env={"MT5_SIMULATOR_LATENCY": '{"login": 3.0}'})
    terminal = bridge.terminal(timeout=1.0)
    assert terminal.initialize() is True
    started = time.monotonic()
    assert terminal.login(*creds(A)) is False
    elapsed = time.monotonic() - started
    assert terminal.last_error() == IPC_TIMEOUT
    assert elapsed < 2.5  # the only timed assertion: 1 s timeout, the login takes 3 s
    assert not terminal.connected  # a late answer must not be read as the next call's
    # The bridge finishes the slow login before it serves the next call: retry until it does.
    for _ in range(10):
        if terminal.version() is not None:
            break
        assert terminal.last_error() == IPC_TIMEOUT
    assert (terminal.version(), terminal.last_error()) == ((500, 4755, "20 Nov 2026"), SUCCESS)
    assert terminal.account_info().login == A.login  # the slow login did complete on the terminal


def test_manager_treats_a_bridge_timeout_as_transient(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory(env={"MT5_SIMULATOR_LATENCY": '{"login": 2.0}'})
    manager = MT5ConnectionManager.from_settings(bridge.settings(bridge_timeout=0.5), sleep=lambda _: None)
    assert manager.backend == "bridge"
    with pytest.raises(TransientMT5Error) as caught:
        manager.login(*creds(A))
    assert (caught.value.code, manager.state) == (-10005, TerminalState.LOST)
    bridge.simulator(timeout=10).reset()  # a fresh, fast terminal (waits for the slow login to finish)
    assert manager.get_account_info(*creds(A), attempt=2).login == A.login
    assert (manager.state, manager.metrics().initializations) == (TerminalState.READY, 2)


# --- the bridge dies and comes back ------------------------------------------------------------------------


def test_killed_bridge_fails_transiently_then_serves_again_after_restart_without_worker_restart(
    bridge_factory: BridgeFactory,
) -> None:
    bridge = bridge_factory(env={"MT5_SIMULATOR_LATENCY": '{"login": 1.0}'})
    watcher = bridge.simulator()
    manager = MT5ConnectionManager.from_settings(bridge.settings(), sleep=lambda _: None)
    manager.login(*creds(A))  # pooled: later requests need no password
    watcher.reset_counters()

    # In flight: a switch to B is running on the terminal when the bridge host dies.
    outcome: list[BaseException | object] = []

    def switch() -> None:
        try:
            outcome.append(manager.login(*creds(B)))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=switch)
    thread.start()
    deadline = time.monotonic() + 10
    while watcher.calls["login"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    bridge.kill()
    thread.join(10)
    [inflight] = outcome
    assert isinstance(inflight, TransientMT5Error) and inflight.code == RECV_FAILED[0]
    assert manager.state == TerminalState.LOST

    # Following requests, retried while the bridge is down, fail transiently with IPC codes.
    codes = []
    for attempt in (1, 2, 3):
        with pytest.raises(TransientMT5Error) as caught:
            manager.get_account_info(A.login, attempt=attempt)
        codes.append(caught.value.code)
    assert codes == [NO_IPC[0]] * 3 and all(c in IPC_CODES for c in codes)

    # The bridge comes back (a fresh process: its terminal is not initialized); the same manager recovers.
    bridge.start()
    info = manager.get_account_info(A.login, attempt=4)  # no password: the pooled session survived
    assert info.login == A.login and type(info) is AccountInfo
    assert manager.get_account_info(*creds(B)).login == B.login
    metrics = manager.metrics()
    assert (manager.state, metrics.initializations, metrics.pool_size) == (TerminalState.READY, 2, 2)
    assert metrics.failures_by_code == {-10002: 1, -10004: 3}
    watcher.close()


def test_idle_connection_to_a_restarted_bridge_costs_one_transient_failure(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory()
    manager = MT5ConnectionManager.from_settings(bridge.settings(), sleep=lambda _: None)
    assert manager.get_account_info(*creds(A)).login == A.login
    bridge.restart()  # between two requests: the worker still holds a connection to the old process
    with pytest.raises(TransientMT5Error) as caught:
        manager.get_account_info(A.login)
    assert caught.value.code in IPC_CODES
    assert manager.get_account_info(A.login, attempt=2).login == A.login


# --- TLS ---------------------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> Callable[[str], tuple[Path, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")

    def make(name: str) -> tuple[Path, Path]:
        cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
        )
        return cert, key

    return make


def test_tls_bridge_serves_clients_that_trust_its_certificate_only(
    bridge_factory: BridgeFactory, certificate: Callable[[str], tuple[Path, Path]]
) -> None:
    cert, key = certificate("bridge")
    other_cert, _ = certificate("impostor")
    bridge = bridge_factory(env={"MT5_BRIDGE_CERTFILE": str(cert), "MT5_BRIDGE_KEYFILE": str(key)})
    trusted = bridge_terminal(bridge.settings(bridge_certfile=cert))
    assert trusted.initialize() is True and trusted.login(*creds(A)) is True
    assert trusted.account_info().login == A.login
    plaintext = bridge.terminal()
    assert (plaintext.version(), plaintext.last_error()) == (None, NO_IPC)
    distrustful = bridge.terminal(certfile=other_cert)
    assert distrustful.version() is None
    assert distrustful.last_error() == (-10003, "IPC initialize failed, TLS handshake with the bridge failed")
    trusted.close()
    assert [e["tls"] for e in bridge.events() if e["event"] == "mt5.bridge.authenticated"] == [True]


def test_tls_client_against_a_plain_bridge_fails_its_handshake(
    bridge_process: BridgeProcess, certificate: Callable[[str], tuple[Path, Path]]
) -> None:
    cert, _ = certificate("bridge")
    terminal = bridge_process.terminal(certfile=cert)
    assert terminal.version() is None
    assert terminal.last_error() == (-10003, "IPC initialize failed, TLS handshake with the bridge failed")


# --- wiring ----------------------------------------------------------------------------------------------
