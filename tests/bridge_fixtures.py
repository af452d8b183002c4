"""A real ``mt5-worker bridge`` hosting the simulator, in a subprocess on a free loopback port.

- :class:`BridgeProcess` starts, kills and restarts one bridge (random token, JSON log in a file).
- :class:`RemoteSimulator` is a :class:`BridgeTerminal` to it with :class:`SimulatedTerminal`'s test API
  (``inject_fault``, ``crash``, ``calls``, ``max_concurrent_calls``, ``active_login``, ``accounts``,
  ``reset_counters``, ``clear_faults``), so a test written against ``sim`` runs over the bridge unchanged.
- Fixtures: ``bridge_process`` (one per session), ``bridge_sim`` (a fresh remote simulator per test),
  ``bridge_terminal_factory`` (more clients of the session bridge), ``bridge_factory`` (dedicated bridges a
  test may kill or configure). Every process started here is killed at teardown.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mt5_worker.bridge.service import ACCOUNT_ROW_FIELDS, account_row
from mt5_worker.codes import RES_E_INTERNAL_FAIL_SEND
from mt5_worker.settings import Settings
from mt5_worker.terminal.bridge import BridgeTerminal
from mt5_worker.terminal.specs import AccountSpec

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
READY_TIMEOUT = 20.0  # seconds for a bridge process to start listening
_numbers = itertools.count(1)


class BridgeProcess:
    """One bridge subprocess hosting the simulator. ``port=0`` picks a free port on first start."""

    def __init__(
        self,
        workdir: Path,
        *,
        token: str | None = None,
        port: int = 0,
        env: Mapping[str, str] | None = None,
        simulator_control: bool = True,
    ) -> None:
        self.workdir = workdir
        self.token = token if token is not None else secrets.token_urlsafe(24)
        self.host = HOST
        self.port = port
        self.env = dict(env or {})
        self.simulator_control = simulator_control
        self.log_path = workdir / f"bridge-{next(_numbers)}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> BridgeProcess:
        """Start (or restart, on the same port) and wait until it listens."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5_", "CELERY_"))}
        env |= {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
            "MT5_BRIDGE_TOKEN": self.token,
            "MT5_BRIDGE_HOST": self.host,
            "MT5_LOG_FORMAT": "json",
            "MT5_LOG_LEVEL": "INFO",
        } | self.env
        args = [sys.executable, "-m", "mt5_worker.bridge.server", "--backend", "simulator", "--port", str(self.port)]
        if self.simulator_control:
            args.append("--allow-simulator-control")
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            # cwd: a directory without a .env file, so only the variables above configure the bridge
            self.proc = subprocess.Popen(args, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.port = self._wait_ready(offset)
        return self

    def kill(self) -> None:
        """SIGKILL: the bridge dies mid-call, as on a crash or a power cut of the terminal host."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 5 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> BridgeProcess:
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _wait_ready(self, offset: int) -> int:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for event in self.events(offset):
                if event.get("event") == "mt5.bridge.started":
                    return int(event["port"])
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"bridge exited with {self.proc.returncode}:\n{self.log_text()}")
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"bridge not ready within {READY_TIMEOUT} s:\n{self.log_text()}")

    # --- observation ------------------------------------------------------------------------------

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def events(self, offset: int = 0) -> list[dict[str, Any]]:
        """The bridge's JSON log events (from byte ``offset``); other lines are skipped."""
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as f:
            f.seek(offset)
            lines = f.read().decode("utf-8", errors="replace").splitlines()
        events = []
        for line in lines:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    events.append(event)
        return events

    # --- clients ----------------------------------------------------------------------------------

    def settings(self, **overrides: Any) -> Settings:
        """Worker settings for ``MT5_BACKEND=bridge`` against this bridge."""
        values: dict[str, Any] = {
            "backend": "bridge",
            "bridge_host": self.host,
            "bridge_port": self.port,
            "bridge_token": self.token,
            "bridge_timeout": 10.0,
        }
        return Settings.load(_env_file=None, **(values | overrides))

    def worker_env(self, timeout: float = 30.0) -> dict[str, str]:
        """Environment of a worker process (Celery) that uses this bridge: ``MT5_BACKEND=bridge`` and co."""
        return {
            "MT5_BACKEND": "bridge",
            "MT5_BRIDGE_HOST": self.host,
            "MT5_BRIDGE_PORT": str(self.port),
            "MT5_BRIDGE_TOKEN": self.token,
            "MT5_BRIDGE_TIMEOUT": str(timeout),
        }

    def terminal(self, *, timeout: float = 10.0, token: str | None = None, **kwargs: Any) -> BridgeTerminal:
        return BridgeTerminal(self.host, self.port, token or self.token, timeout=timeout, **kwargs)

    def simulator(self, *, timeout: float = 10.0, **kwargs: Any) -> RemoteSimulator:
        return RemoteSimulator(self.host, self.port, self.token, timeout=timeout, **kwargs)


class RemoteSimulator(BridgeTerminal):
    """A bridge client with :class:`SimulatedTerminal`'s test API, for bridges run with simulator control.

    The port functions go through the bridge like any worker's; the test API calls the bridge's ``sim_*``
    functions on the same connection. Its ``backend`` is ``"bridge"``.
    """

    def reset(
        self, accounts: Iterable[AccountSpec] | None = None, *, latency: Mapping[str, float] | None = None
    ) -> RemoteSimulator:
        """Replace the remote simulator by a fresh one (the equivalent of ``SimulatedTerminal(accounts, ...)``)."""
        rows = None if accounts is None else tuple(account_row(a) for a in accounts)
        self.control("reset", rows, tuple((latency or {}).items()))  # no latency unless asked, like the class
        return self

    @property
    def accounts(self) -> tuple[AccountSpec, ...]:
        rows = self.control("accounts")
        return tuple(AccountSpec.model_validate(dict(zip(ACCOUNT_ROW_FIELDS, row, strict=True))) for row in rows)

    @property
    def active_login(self) -> int | None:
        login: int | None = self.control("active_login")
        return login

    @property
    def calls(self) -> Counter[str]:
        """A snapshot of the remote simulator's per-function call counts."""
        return Counter(dict(self.control("calls")))

    @property
    def max_concurrent_calls(self) -> int:
        return int(self.control("max_concurrent_calls"))

    def inject_fault(self, function: str, *, fail_first: int = 0, rate: float = 0.0, code: int = -10004) -> None:
        self.control("inject_fault", function, fail_first, rate, code)

    def clear_faults(self) -> None:
        self.control("clear_faults")

    def crash(self, code: int = RES_E_INTERNAL_FAIL_SEND) -> None:
        self.control("crash", code)

    def reset_counters(self) -> None:
        self.control("reset_counters")


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bridge_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    """One bridge for the session, hosting the simulator with simulator control."""
    bridge = BridgeProcess(tmp_path_factory.mktemp("bridge"))
    try:
        yield bridge.start()
    finally:
        bridge.stop()


@pytest.fixture
def bridge_sim(bridge_process: BridgeProcess) -> Iterator[RemoteSimulator]:
    """A fresh simulator (demo accounts, no latency, no faults) behind the session bridge."""
    if not bridge_process.running:  # a test killed it: start it again rather than fail every later test
        bridge_process.start()
    sim = bridge_process.simulator().reset()
    try:
        yield sim
    finally:
        sim.close()


@pytest.fixture
def bridge_terminal_factory(bridge_process: BridgeProcess) -> Iterator[Callable[..., BridgeTerminal]]:
    """More clients of the session bridge: ``factory(timeout=..., token=...)``; closed at teardown."""
    made: list[BridgeTerminal] = []

    def make(**kwargs: Any) -> BridgeTerminal:
        made.append(bridge_process.terminal(**kwargs))
        return made[-1]

    try:
        yield make
    finally:
        for terminal in made:
            terminal.close()


@pytest.fixture
def bridge_factory(tmp_path: Path) -> Iterator[Callable[..., BridgeProcess]]:
    """Dedicated bridges for one test (to kill, restart or configure): ``factory(env=..., ...)``, started."""
    started: list[BridgeProcess] = []

    def make(**kwargs: Any) -> BridgeProcess:
        started.append(BridgeProcess(tmp_path, **kwargs))
        return started[-1].start()

    try:
        yield make
    finally:
        for bridge in started:
            bridge.kill()
