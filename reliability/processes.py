"""The real processes a scenario starts and breaks: a private Redis, workers, beats, bridges, Flower.

Everything runs over loopback exactly as in production (``celery -A mt5_worker.worker.app worker --pool=prefork
--concurrency=1``, ``celery beat``, ``python -m mt5_worker.bridge.server``), configured only through the
environment. Each process writes its own log file in the fleet's directory (a restarted worker gets a new file
per incarnation), so the credential scan can read every line every process wrote.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from mt5_worker.cli.devstack import (
    ManagedProcess,
    RedisServer,
    beat_argv,
    celery_argv,
    free_port,
    wait_for,
    worker_argv,
)
from mt5_worker.client import MT5Client
from mt5_worker.fleet.routing import terminal_queue_name
from mt5_worker.settings import Settings
from mt5_worker.terminal.specs import AccountSpec

REPO = Path(__file__).resolve().parent.parent
NODE_HOST = "reliability"


def make_accounts(n: int, first_login: int = 40_000_001, server: str = "Reliability-Demo") -> list[AccountSpec]:
    """``n`` accounts with random passwords (unique strings the credential scan can look for)."""
    return [
        AccountSpec.model_validate({
            "login": first_login + i, "password": f"rel-{secrets.token_hex(10)}", "server": server,
            "name": f"Reliability {first_login + i}", "balance": 1_000.0 + i,
        })
        for i in range(n)
    ]  # fmt: skip


def write_accounts(path: Path, accounts: Sequence[AccountSpec]) -> Path:
    """An ``MT5_SIMULATOR_ACCOUNTS`` file (not a ``.log``: it is the terminal's own account store)."""
    rows = [a.model_dump() | {"password": a.password.get_secret_value()} for a in accounts]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def _env(settings: dict[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in settings.items()}


class WorkerProcess:
    """One worker (one terminal) under a fixed nodename; each (re)start is a new incarnation with its own log."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.nodename = f"{name}@{NODE_HOST}"
        self.queue = terminal_queue_name(self.nodename)
        self.env = env
        self.log_dir = log_dir
        self.incarnations: list[ManagedProcess] = []

    @property
    def current(self) -> ManagedProcess:
        return self.incarnations[-1]

    def start(self, wait: bool = True) -> WorkerProcess:
        log_name = f"worker-{self.name}.{len(self.incarnations) + 1}"
        self.incarnations.append(_start(ManagedProcess(log_name, worker_argv(self.nodename), self.env, self.log_dir)))
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        _wait_for_log(self.current, "ready.", timeout)

    def kill(self) -> None:
        """SIGKILL the whole worker: the main process and its pool child, as a power cut or the OOM killer would."""
        self.current.stop(signal.SIGKILL)

    def child_pid(self) -> int | None:
        """The prefork child that runs tasks (and owns the terminal)."""
        process = self.current.process
        if process is None or process.poll() is not None:
            return None
        pid = process.pid
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            return int(children[0]) if children else None
        return None

    def kill_child(self) -> int | None:
        """SIGKILL only the pool child: the main process requeues its task (reject_on_worker_lost) and forks anew."""
        pid = self.child_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        for incarnation in self.incarnations:
            incarnation.stop()

    def log_text(self) -> str:
        return "".join(p.log_text() for p in self.incarnations)

    def events(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        """structlog JSON lines of every incarnation, filtered by event name and field values."""
        found = []
        for line in self.log_text().splitlines():
            if not line.startswith("{"):
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                wanted = event is None or record.get("event") == event
                if wanted and all(record.get(k) == v for k, v in match.items()):
                    found.append(record)
        return found


class BridgeProcess:
    """``python -m mt5_worker.bridge.server`` hosting the simulator on a fixed port, so it restarts on the same one."""

    def __init__(self, log_dir: Path, simulator: dict[str, str], name: str = "bridge") -> None:
        self.port = free_port()
        self.token = secrets.token_urlsafe(24)
        self.log_dir = log_dir
        self.name = name
        self.env = _base_env() | simulator | {
            "MT5_BRIDGE_TOKEN": self.token, "MT5_BRIDGE_HOST": "127.0.0.1", "MT5_LOG_FORMAT": "json",
        }  # fmt: skip
        self.incarnations: list[ManagedProcess] = []

    def start(self) -> BridgeProcess:
        argv = [sys.executable, "-m", "mt5_worker.bridge.server", "--backend", "simulator", "--port", str(self.port)]
        log_name = f"{self.name}.{len(self.incarnations) + 1}"
        self.incarnations.append(_start(ManagedProcess(log_name, argv, self.env, self.log_dir)))
        _wait_for_log(self.incarnations[-1], "mt5.bridge.started", 30)
        return self

    def kill(self) -> None:
        self.incarnations[-1].stop(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets (the kernel still accepts connections) but never answers."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> None:
        process = self.incarnations[-1].process
        if process is not None:
            os.killpg(process.pid, sig)

    def worker_env(self, timeout: float) -> dict[str, str]:
        return {
            "MT5_BACKEND": "bridge", "MT5_BRIDGE_HOST": "127.0.0.1", "MT5_BRIDGE_PORT": str(self.port),
            "MT5_BRIDGE_TOKEN": self.token, "MT5_BRIDGE_TIMEOUT": str(timeout),
        }  # fmt: skip

    def stop(self) -> None:
        self.resume()  # a stopped process cannot act on SIGTERM
        for incarnation in self.incarnations:
            incarnation.stop()


class SilentListener:
    """A TCP server that accepts every connection and never sends a byte: a bridge that has stalled."""

    def __init__(self, port: int) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-listener", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = self._sock.accept()
                self._held.append(conn)  # kept open, never answered

    @property
    def accepted(self) -> int:
        return len(self._held)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._sock.close()


def _start(process: ManagedProcess) -> ManagedProcess:
    """Start, remembering where this run's output begins in a log file that may already exist."""
    process.log_offset = process.log_path.stat().st_size if process.log_path.exists() else 0  # type: ignore[attr-defined]
    return process.start()


def _wait_for_log(process: ManagedProcess, text: str, timeout: float) -> None:
    offset: int = getattr(process, "log_offset", 0)
    wait_for(lambda: text in process.log_text()[offset:] or not process.running, timeout, f"{process.name}: {text}")
    if not process.running:
        raise RuntimeError(f"{process.name} exited:\n{process.log_text()[-3000:]}")


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5_", "CELERY_", "FLOWER_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env | {"PYTHONUNBUFFERED": "1"}


class Fleet:
    """A private Redis and the processes started against it, a client, and a raw Redis connection to read results.

    ``redis_args`` go to redis-server (``--appendonly yes`` for persistence); ``client_settings`` configure the
    ``MT5Client`` (e.g. ``credentials_key``). Every process is stopped by :meth:`close`.
    """

    def __init__(self, log_dir: Path, redis_args: Sequence[str] = (), **client_settings: Any) -> None:
        self.log_dir = log_dir
        self.redis = RedisServer(log_dir, args=redis_args).start()
        self.url = self.redis.url
        self.env = _base_env() | {"REDIS_URL": self.url, "MT5_BACKEND": "simulator", "MT5_LOG_FORMAT": "json"}
        self.workers: list[WorkerProcess] = []
        self.others: list[ManagedProcess | BridgeProcess] = []
        self.app = Celery("reliability-client", set_as_current=False)
        self.app.config_from_object("celeryconfig")
        self.app.conf.update(broker_url=self.url, result_backend=self.url)
        self.settings = Settings.load(_env_file=None, redis_url=self.url, **client_settings)
        self.client = MT5Client(app=self.app, settings=self.settings)
        self.r = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=1)

    def worker_env(self, **settings: Any) -> dict[str, str]:
        return self.env | _env(settings)

    def start_workers(self, names: Sequence[str], envs: Sequence[dict[str, str]] | None = None) -> list[WorkerProcess]:
        """Start several workers at once (in parallel), wait until each is ready and registered."""
        started = []
        for i, name in enumerate(names):
            env = envs[i] if envs is not None else self.env
            worker = WorkerProcess(name, env, self.log_dir).start(wait=False)
            self.workers.append(worker)
            started.append(worker)
        for worker in started:
            worker.wait_ready()
        wanted = {w.nodename for w in self.workers}
        wait_for(lambda: wanted <= set(self.client.workers()), 30, "workers to register")
        return started

    def start_beat(self, name: str = "beat", **settings: Any) -> ManagedProcess:
        schedule_dir = self.log_dir / name
        schedule_dir.mkdir(exist_ok=True)
        beat = ManagedProcess(name, beat_argv(schedule_dir), self.worker_env(**settings), self.log_dir)
        self.others.append(beat.start())
        beat.wait_for_log("beat: Starting", 30)
        return beat

    def start_bridge(self, simulator: dict[str, str], name: str = "bridge") -> BridgeProcess:
        bridge = BridgeProcess(self.log_dir, simulator, name).start()
        self.others.append(bridge)
        return bridge

    def start_flower(self, basic_auth: str) -> tuple[ManagedProcess, str]:
        port = free_port()
        argv = celery_argv("flower", f"--port={port}", "--address=127.0.0.1")
        flower = ManagedProcess("flower", argv, self.env | {"FLOWER_BASIC_AUTH": basic_auth}, self.log_dir)
        self.others.append(flower.start())
        base = f"http://127.0.0.1:{port}"

        def serving() -> bool:
            try:
                with urllib.request.urlopen(base + "/healthcheck", timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for(serving, 60, "flower to serve")
        return flower, base

    def logs(self) -> dict[str, str]:
        """Every process's log file, by name."""
        return {p.name: p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log"))}

    def close(self) -> None:
        # AsyncResults left in reference cycles unsubscribe from their result channel when collected: let that
        # happen now, while Redis is up (later, it would block ~20 s each retrying a stopped Redis).
        gc.collect()
        for process in reversed(self.others):
            process.stop()
        for worker in self.workers:
            worker.stop()
        self.client.close()
        self.app.close()
        self.r.close()
        self.redis.stop()


def sleep_until(moment: float) -> None:
    """Sleep until ``time.time()`` reaches ``moment``."""
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)
