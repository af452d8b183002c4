"""Workers, beats and bridges as real child processes that a test or a fault scenario can restart and break.

Each is a :class:`Process`: a fixed identity (name, command, environment) started any number of times. Every
start is an incarnation with a log file of its own, so waiting for a process to be ready never finds the line
an earlier run wrote, while :meth:`Process.log_text` still reads everything every incarnation wrote (what the
credential scan searches). Starting, stopping and the process group are :class:`~mt5_worker.cli.devstack.
ManagedProcess`'s, the command lines :func:`~mt5_worker.cli.devstack.worker_argv`'s and ``beat_argv``'s: the
production commands.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from harness.env import child_env
from harness.forkserver import fork_server
from mt5_worker.bridge.terminal import BridgeTerminal
from mt5_worker.cli.devstack import ManagedProcess, beat_argv, worker_argv
from mt5_worker.fleet.routing import terminal_queue_name
from mt5_worker.settings import Settings

LOOPBACK = "127.0.0.1"


class Process:
    """A child process under a fixed identity; each :meth:`start` is a new incarnation with its own log file.

    A child runs in its log directory: there is no ``.env`` there, so ``env`` alone configures it.
    """

    ready_text: str | None = None  # the log text that says it serves; None: started is ready
    forked = False  # started by this process's fork server (harness.forkserver), which has imported Celery already
    ready_timeout = 90.0  # generous: under a whole test suite, a 2-core machine starts a worker in tens of seconds

    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = dict(env)
        self.log_dir = log_dir
        self.incarnations: list[ManagedProcess] = []

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self, wait: bool = True) -> Self:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        log_name = _fresh_log_name(self.log_dir, self.name)
        kind = ForkedProcess if self.forked else ManagedProcess
        process = kind(log_name, self.argv(), self.env, self.log_dir, cwd=self.log_dir)
        self.incarnations.append(process.start())
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        if self.ready_text is not None:
            self.process.wait_for_log(self.ready_text, timeout or self.ready_timeout)

    @property
    def process(self) -> ManagedProcess:
        """The current incarnation."""
        if not self.incarnations:
            raise RuntimeError(f"{self.name} was never started")
        return self.incarnations[-1]

    @property
    def pid(self) -> int | None:
        """The current incarnation's pid, which is also its process group's id (None before the first start)."""
        popen = self.incarnations[-1].process if self.incarnations else None
        return popen.pid if popen is not None else None

    @property
    def running(self) -> bool:
        return bool(self.incarnations) and self.process.running

    @property
    def log_path(self) -> Path:
        """The current incarnation's log file (byte offsets into it suit :meth:`events`' ``since``)."""
        return self.process.log_path

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the current incarnation's whole process group (a prefork worker's child included)."""
        if self.incarnations and _unreaped(self.process) and self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets (the kernel still accepts connections) but never answers."""
        self.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the current incarnation's whole group, as a power cut or the OOM killer would."""
        if _unreaped(self.process):
            self.process.stop(signal.SIGKILL)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop every incarnation not yet reaped (``sig``, then SIGKILL after a grace period)."""
        self.resume()  # a paused process cannot act on SIGTERM
        for incarnation in self.incarnations:
            if _unreaped(incarnation):
                incarnation.stop(sig)

    def log_text(self, *, since: int | None = None) -> str:
        """Everything every incarnation wrote, or with ``since`` what the current one wrote from that byte offset
        on (:meth:`log_size`, taken before acting)."""
        if since is None:
            return "".join(incarnation.log_text() for incarnation in self.incarnations)
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode("utf-8", errors="replace")

    def log_size(self) -> int:
        """The current incarnation's log size: an offset for ``since`` (what a test on a shared process acts on)."""
        return self.log_path.stat().st_size

    def events(self, event: str | None = None, *, since: int | None = None, **match: Any) -> list[dict[str, Any]]:
        """structlog JSON lines, filtered by event name and field values: of every incarnation, or with ``since``,
        of the current one from that byte offset on (what a test wrote down before acting)."""
        text = self.log_text(since=since)
        found = []
        for line in text.splitlines():
            if not line.startswith("{"):
                continue  # Celery's own lines, tracebacks
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if not isinstance(record, dict) or (event is not None and record.get("event") != event):
                continue
            if all(record.get(k) == v for k, v in match.items()):
                found.append(record)
        return found


class ForkedProcess(ManagedProcess):
    """A :class:`~mt5_worker.cli.devstack.ManagedProcess` whose command runs in a child of the fork server."""

    def start(self) -> ForkedProcess:
        self.process = fork_server().spawn(self.argv, self.env, self.log_path, self.cwd)
        return self


class WorkerProcess(Process):
    """``celery worker`` as in production (prefork, one child) under a fixed nodename, which is its terminal id.

    ``bridge`` is the bridge hosting its terminal, when it has one of its own (``Fleet.worker(bridged=True)``).
    """

    ready_text = "ready."
    forked = True

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        host: str = "test",
        args: Sequence[str] = (),
        bridge: BridgeProcess | None = None,
    ) -> None:
        super().__init__(name, env, log_dir)
        self.nodename = f"{name}@{host}"
        self.queue = terminal_queue_name(self.nodename)
        self.args = tuple(args)
        self.bridge = bridge

    def argv(self) -> list[str]:
        return worker_argv(self.nodename, *self.args)

    def sdk_calls(self, function: str, *, since: int | None = None, **match: Any) -> list[dict[str, Any]]:
        """The terminal calls the worker logged (``mt5.call``), e.g. ``sdk_calls("login", ok=True)``; ``since``: from
        that offset of the current incarnation's log on."""
        return self.events("mt5.call", since=since, function=function, **match)

    def child_pid(self) -> int | None:
        """The prefork child that runs tasks (and owns the terminal); Linux only."""
        if not self.running or self.pid is None:
            return None
        with contextlib.suppress(OSError, ValueError):
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            return int(children[0]) if children else None
        return None

    def kill_child(self) -> int | None:
        """SIGKILL only the pool child: the main process requeues its task (reject_on_worker_lost) and forks anew."""
        pid = self.child_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pid


class BeatProcess(Process):
    """``celery beat``, with a schedule file of its own (two beats in one directory must not share one)."""

    ready_text = "beat: Starting"
    forked = True

    def argv(self) -> list[str]:
        schedule_dir = self.log_dir / self.name
        schedule_dir.mkdir(exist_ok=True)
        return beat_argv(schedule_dir)


class BridgeProcess(Process):
    """``python -m mt5_worker.bridge.server`` hosting the simulator on loopback, with a random token.

    ``port=0`` lets the first start pick a free port (read back from its ``mt5.bridge.started`` line); every
    restart then listens on that same port, as a restarted terminal host would. ``env`` adds settings
    (``MT5_SIMULATOR_*``, TLS files); ``simulator_control`` allows the ``sim_*`` calls a test drives it with.
    """

    ready_text = "mt5.bridge.started"
    forked = True

    def __init__(
        self,
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        token: str | None = None,
        port: int = 0,
        simulator_control: bool = False,
        name: str = "bridge",
    ) -> None:
        self.token = token if token is not None else secrets.token_urlsafe(24)
        self.host = LOOPBACK
        self.port = port
        self.simulator_control = simulator_control
        own = {"MT5_BRIDGE_TOKEN": self.token, "MT5_BRIDGE_HOST": self.host, "MT5_LOG_FORMAT": "json",
               "MT5_LOG_LEVEL": "INFO"}  # fmt: skip
        super().__init__(name, child_env(own) | dict(env or {}), log_dir)

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "mt5_worker.bridge.server", "--backend", "simulator", "--port", str(self.port)]
        return [*argv, "--allow-simulator-control"] if self.simulator_control else argv

    def start(self, wait: bool = True) -> Self:
        """Start (or start again, on the same port) and wait until it listens: a bridge is always waited for,
        since its port is known only then."""
        super().start(wait=True)
        (started,) = self.events("mt5.bridge.started", since=0)
        self.port = int(started["port"])
        return self

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def settings(self, **overrides: Any) -> Settings:
        """In-process settings of a manager that uses this bridge (``MT5_BACKEND=bridge``)."""
        values: dict[str, Any] = {"backend": "bridge", "bridge_host": self.host, "bridge_port": self.port,
                                  "bridge_token": self.token, "bridge_timeout": 10.0}  # fmt: skip
        return Settings.load(_env_file=None, **(values | overrides))

    def worker_env(self, timeout: float = 30.0) -> dict[str, str]:
        """The variables that point a worker process at this bridge."""
        return {"MT5_BACKEND": "bridge", "MT5_BRIDGE_HOST": self.host, "MT5_BRIDGE_PORT": str(self.port),
                "MT5_BRIDGE_TOKEN": self.token, "MT5_BRIDGE_TIMEOUT": str(timeout)}  # fmt: skip

    def terminal(self, *, timeout: float = 10.0, token: str | None = None, **kwargs: Any) -> BridgeTerminal:
        """A client of this bridge, as a worker's manager holds one (``token`` to try another)."""
        return BridgeTerminal(self.host, self.port, token or self.token, timeout=timeout, **kwargs)


class FeedProcess(Process):
    """``mt5-worker feed`` for one trade server, on the simulator unless its settings say otherwise: ``env`` holds
    its ``MT5_FEED_*`` settings. Ready once it logged its start; whether it leads is :meth:`leading`."""

    ready_text = "mt5.feed.started"
    forked = True

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "mt5_worker.feed.main"]

    def leading(self) -> bool:
        """Whether its last leadership event says it leads."""
        changes = [e for e in self.events() if e.get("event") in ("mt5.feed.leading", "mt5.feed.standing_by")]
        return bool(changes) and changes[-1]["event"] == "mt5.feed.leading"


def _unreaped(process: ManagedProcess) -> bool:
    """Started and not waited for yet. Signals go to a process group by id, and once its leader is reaped (and
    the group empty) that id may be given to another process: only an unreaped one is safe to signal."""
    return process.process is not None and process.process.returncode is None


def _fresh_log_name(log_dir: Path, stem: str) -> str:
    """``stem.N``, N the first number whose log file does not exist yet; the file is created now, so two
    processes of one name (a restart, or a second fleet in the same directory) never share a log."""
    for number in itertools.count(1):
        name = f"{stem}.{number}"
        try:
            (log_dir / f"{name}.log").touch(exist_ok=False)
        except FileExistsError:
            continue
        return name
    raise AssertionError("unreachable")
