"""SessionStore and WorkerRuntime bookkeeping against a real Redis (no Celery needed)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from mt5_worker.cli.devstack import RedisServer
from mt5_worker.fleet.sessions import SessionStore, connect
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager.snapshots import SessionInfo
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.worker.runtime import WorkerRuntime
from tests.conftest import ManualClock, creds

A, B, C = DEMO_ACCOUNTS[:3]


def info(login: int, last_used: float, server: str = "S", uses: int = 1) -> SessionInfo:
    return SessionInfo(login, server, True, False, created=last_used, last_used=last_used, uses=uses)


@pytest.fixture
def store(redis_url: str) -> SessionStore:
    return SessionStore(connect(redis_url), "w1@test")


def test_record_writes_sorted_set_and_metadata_hash(store: SessionStore, redis_url: str) -> None:
    assert store.record([info(1, 100.0), info(2, 50.5, uses=3)])
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    assert [("2", 50.5), ("1", 100.0)] == r.zrange(store.index_key, 0, -1, withscores=True)
    assert {
        "login": "2",
        "server": "S",
        "created": "50.5",
        "last_used": "50.5",
        "uses": "3",
    } == r.hgetall(store.session_key(2))
    assert [2, 1] == [s["login"] for s in store.sessions() or []]


def test_expired_is_a_strict_score_range(store: SessionStore) -> None:
    store.record([info(1, 100.0), info(2, 200.0), info(3, 300.0)])
    assert [1] == store.expired(200.0)
    assert [1, 2] == store.expired(200.001)


def test_remove_and_reconcile(store: SessionStore) -> None:
    store.record([info(1, 1.0), info(2, 2.0), info(3, 3.0)])
    assert store.remove([1])
    assert [3] == store.reconcile([info(2, 5.0)])
    assert [(2, 5.0)] == [(s["login"], s["last_used"]) for s in store.sessions() or []]


def test_an_unreachable_redis_answers_none_fast_and_recovers(private_redis_server: RedisServer) -> None:
    store = SessionStore(connect(private_redis_server.url), "w1@test")
    assert store.record([info(1, 1.0)])
    private_redis_server.stop()
    started = time.monotonic()
    assert (False, None, None, False) == (
        store.record([info(2, 2.0)]),
        store.expired(10.0),
        store.sessions(),
        store.available,
    )
    assert time.monotonic() - started < 3
    private_redis_server.start()
    assert store.record([info(2, 2.0)])
    assert store.available


@pytest.fixture
def runtime(redis_url: str, settings_factory: Callable[..., object], sim: object, clock: ManualClock) -> WorkerRuntime:
    settings = settings_factory(redis_url=redis_url, idle_timeout=10)
    manager = MT5ConnectionManager(sim, settings, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    rt = WorkerRuntime(settings, manager, SessionStore(connect(redis_url), "w1@test"), clock=clock)  # type: ignore[arg-type]
    rt._start()
    return rt


def test_first_write_reconciles_what_a_previous_process_left(runtime: WorkerRuntime) -> None:
    runtime.store.record([info(99, 1.0)])  # listed by a process that is gone
    runtime._resync = True
    runtime.record(runtime.manager.login(*creds(A)))
    assert [A.login] == [s["login"] for s in runtime.store.sessions() or []]


def test_sweep_evicts_only_what_the_pool_says_is_idle(runtime: WorkerRuntime, clock: ManualClock) -> None:
    runtime.record(runtime.manager.login(*creds(A)))
    runtime.record(runtime.manager.login(*creds(B)))
    clock.advance(5)
    runtime.manager.login(*creds(A))  # used, but Redis was not told (as during an outage)
    runtime.store.record([info(99, 0.0)])  # a stale entry
    clock.advance(6)  # B idle 11 s, A idle 6 s
    assert [B.login] == runtime.sweep()
    assert [A.login] == [s.login for s in runtime.manager.sessions()]
    assert [(A.login, clock.now - 6)] == [(s["login"], s["last_used"]) for s in runtime.store.sessions() or []]
    assert [] == runtime.sweep()  # harmless when run twice


def test_sweep_without_redis_falls_back_on_the_pool(
    private_redis_server: RedisServer, settings_factory: Callable[..., object], sim: object, clock: ManualClock
) -> None:
    settings = settings_factory(idle_timeout=10)
    manager = MT5ConnectionManager(sim, settings, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    rt = WorkerRuntime(settings, manager, SessionStore(connect(private_redis_server.url), "w1"), clock=clock)  # type: ignore[arg-type]
    rt.record(manager.login(*creds(A)))
    private_redis_server.stop()
    clock.advance(11)
    assert [A.login] == rt.sweep()
    private_redis_server.start()
    rt.record(manager.login(*creds(B)))  # bookkeeping resumes with a full resync
    assert [B.login] == [s["login"] for s in rt.store.sessions() or []]


def test_a_sessions_last_use_is_written_at_most_once_per_write_interval(
    redis_url: str, settings_factory: Callable[..., object], sim: object, clock: ManualClock
) -> None:
    settings = settings_factory(redis_url=redis_url, idle_timeout=10, session_write_interval=3)
    manager = MT5ConnectionManager(sim, settings, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    rt = WorkerRuntime(settings, manager, SessionStore(connect(redis_url), "w1@test"), clock=clock)  # type: ignore[arg-type]
    rt._start()
    start = clock.now

    def redis_last_used() -> list[float]:
        return [s["last_used"] for s in rt.store.sessions() or []]

    rt.record(manager.login(*creds(A)))
    assert [start] == redis_last_used()  # a new session: written at once
    clock.advance(2)
    rt.record(manager.login(*creds(A)))
    assert [start] == redis_last_used()  # 2 s later: skipped
    clock.advance(1)
    rt.record(manager.login(*creds(A)))
    assert [start + 3] == redis_last_used()  # 3 s after the last write
    clock.advance(2)
    rt.record(manager.login(*creds(A)))  # used at +5, Redis still says +3
    clock.advance(9)  # Redis' +3 is past the 10 s timeout, the pool's +5 is not: kept, and rewritten
    assert [] == rt.sweep()
    assert [start + 5] == redis_last_used()
