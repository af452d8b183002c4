"""Rendezvous hashing, the worker registry on a real Redis, and the router's fallbacks."""

from __future__ import annotations

from collections import Counter

import pytest

from mt5_worker.cli.devstack import RedisServer
from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.routing import AffinityRouter, choose, login_of, terminal_queue_name
from mt5_worker.fleet.sessions import connect

LOGINS = range(1, 20_001)


def assignment(workers: dict[str, int]) -> dict[int, str | None]:
    return {login: choose(login, workers) for login in LOGINS}


def test_accounts_spread_evenly_and_by_capacity() -> None:
    even = Counter(assignment({f"t{i}": 20 for i in range(4)}).values())
    assert all(4_500 < n < 5_500 for n in even.values()), even
    weighted = Counter(assignment({"small": 10, "big": 30}).values())
    assert 2.7 < weighted["big"] / weighted["small"] < 3.3, weighted


def test_a_joining_worker_takes_about_one_nth_and_nothing_else_moves() -> None:
    before = assignment({f"t{i}": 20 for i in range(4)})
    after = assignment({f"t{i}": 20 for i in range(5)})
    moved = [login for login in LOGINS if before[login] != after[login]]
    assert {"t4"} == {after[login] for login in moved}  # every move is to the newcomer
    assert 0.17 < len(moved) / len(LOGINS) < 0.23  # about 1/5


def test_a_leaving_worker_moves_only_its_own_accounts() -> None:
    before = assignment({f"t{i}": 20 for i in range(4)})
    after = assignment({f"t{i}": 20 for i in range(3)})
    assert all(before[login] == after[login] for login in LOGINS if before[login] != "t3")
    assert all(after[login] != "t3" for login in LOGINS)


def test_no_workers_no_choice_and_invalid_logins_are_not_routed() -> None:
    assert choose(5001, {}) is None
    assert 5001 == login_of([], {"login": 5001})
    assert 5001 == login_of([5001], None)
    assert login_of([], {"login": "5001"}) is None
    assert login_of([], {"login": True}) is None


def test_registry_heartbeat_departure_and_forget(redis_url: str) -> None:
    registry = WorkerRegistry(connect(redis_url), ttl=30)
    registry.heartbeat("t1", 20, now=1000)
    WorkerRegistry(connect(redis_url), ttl=60).heartbeat("t2", 40, now=1000)  # each worker its own TTL
    assert {"t1": 20, "t2": 40} == registry.read(now=1020).live
    reading = registry.read(now=1035)  # t1's last beat is 35 s old: departed at 1030
    assert ({"t2": 40}, {"t1": 1030.0}) == (reading.live, reading.departed)
    registry.deregister("t2", now=1036)
    assert {} == registry.read(now=1036).live
    registry.forget("t1")
    assert ["t2"] == list(registry.read(now=1036).departed)


def test_router_routes_account_tasks_only_and_caches_its_reading(redis_url: str) -> None:
    registry = WorkerRegistry(connect(redis_url), ttl=30)
    clock = [1000.0]
    router = AffinityRouter(registry, cache_seconds=1.0, clock=lambda: clock[0])
    assert router("mt5.account_info", [], {"login": 7}, {}) is None  # nobody registered: shared queue
    registry.heartbeat("t1", 20, now=1000)
    assert router("mt5.account_info", [], {"login": 7}, {}) is None  # cached for a second
    clock[0] += 1
    assert {"queue": terminal_queue_name("t1")} == router("mt5.account_info", [], {"login": 7}, {})
    assert {"queue": terminal_queue_name("t1")} == router("mt5.login", [7, "pw", "Srv"], {}, {})
    assert router("mt5.health", [], {}, {}) is None
    assert router("mt5.account_info", [], {"login": "7"}, {}) is None


@pytest.mark.timeout(30)
def test_router_keeps_its_last_reading_while_redis_is_down(private_redis_server: RedisServer) -> None:
    registry = WorkerRegistry(connect(private_redis_server.url), ttl=30)
    clock = [1000.0]
    router = AffinityRouter(registry, cache_seconds=1.0, clock=lambda: clock[0])
    registry.heartbeat("t1", 20, now=1000)
    assert {"t1": 20} == router.live()
    private_redis_server.stop()
    clock[0] += 5
    assert {"t1": 20} == router.live()


def test_the_router_does_no_work_for_a_send_that_names_its_queue(redis_url: str) -> None:
    class CountingRouter(AffinityRouter):
        reads = 0

        def live(self) -> dict[str, int]:
            self.reads += 1
            return super().live()

    router = CountingRouter(WorkerRegistry(connect(redis_url)))
    assert router("mt5.account_info", (), {"login": 7}, {"queue": "mt5.terminal.w1"}) is None
    assert 0 == router.reads
    router("mt5.account_info", (), {"login": 7}, {})  # without a queue it routes, which reads the registry
    assert 1 == router.reads
