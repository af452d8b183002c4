"""Rendezvous hashing, the worker registry on a real Redis, and the router's fallbacks."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from mt5_worker.cli.devstack import RedisServer
from mt5_worker.fleet.load import LoadReport
from mt5_worker.fleet.registry import Beat, Membership, WorkerRegistry
from mt5_worker.fleet.routing import AffinityRouter, choose, choose_bounded, terminal_queue_name
from mt5_worker.fleet.sessions import connect
from mt5_worker.settings import Settings


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
    class CountingRegistry(WorkerRegistry):
        reads = 0

        def read(self, now: float) -> Membership:
            self.reads += 1
            return super().read(now)

    registry = CountingRegistry(connect(redis_url))
    router = AffinityRouter(registry)
    assert router("mt5.account_info", (), {"login": 7}, {"queue": "mt5.terminal.w1"}) is None
    assert 0 == registry.reads
    router("mt5.account_info", (), {"login": 7}, {})  # without a queue it routes, which reads the registry
    assert 1 == registry.reads


def test_the_router_reads_load_reports_with_the_membership_and_ignores_departed_workers(redis_url: str) -> None:
    registry = WorkerRegistry(connect(redis_url), ttl=30)
    now = time.time()
    for tid in ("t1", "t2"):
        registry.heartbeat(tid, 20, now)
        registry.report_load(tid, LoadReport(backlog=500, rate=0.0, at=now))
    WorkerRegistry(connect(redis_url), ttl=0.001).heartbeat("gone", 20, now - 1)  # departed, idle by its report
    registry.report_load("gone", LoadReport(backlog=0, rate=0.0, at=now))
    assert {"t1", "t2"} == set(registry.read(now).loads)
    router = AffinityRouter(registry, cache_seconds=60, load_factor=0.25)
    assert {"t1": 500, "t2": 500} == router.backlogs()
    assert {terminal_queue_name("t1"), terminal_queue_name("t2")} == {router.queue_for(n) for n in range(1, 200)}


def test_a_backlog_published_at_once_is_placed_within_the_bound_by_the_routers_own_count(redis_url: str) -> None:
    registry = WorkerRegistry(connect(redis_url), ttl=30)
    workers = [f"t{i}" for i in range(4)]
    for tid in workers:  # announced and idle, as a fresh fleet reports itself
        registry.heartbeat(tid, 20, time.time())
        registry.report_load(tid, LoadReport(backlog=0, rate=0.0, at=time.time()))
    router = AffinityRouter(registry, cache_seconds=60, load_factor=0.25)
    hot = [7] * 400 + [11] * 300 + list(range(100, 400))  # two hot accounts: 70% of the traffic
    placed = Counter(router.queue_for(login) for login in hot)
    assert max(placed.values()) <= 1.25 * len(hot) / 4 + 1, placed
    assert sum(placed.values()) == len(hot)
    plain = AffinityRouter(registry, cache_seconds=60)  # factor 0: where hashing puts them, however uneven
    assert {plain.queue_for(7)} == {plain.queue_for(7) for _ in range(50)}


def test_orders_keep_to_the_accounts_first_choice_while_its_reads_spill(redis_url: str) -> None:
    registry = WorkerRegistry(connect(redis_url), ttl=30)
    now = time.time()
    for tid, backlog in (("t1", 0), ("t2", 0)):
        registry.heartbeat(tid, 20, now)
        registry.report_load(tid, LoadReport(backlog=backlog, rate=0.0, at=now))
    router = AffinityRouter(registry, cache_seconds=60, load_factor=0.1, load_floor=1)
    first = terminal_queue_name(choose(7, {"t1": 20, "t2": 20}) or "")
    reads = {router("mt5.account_info", (), {"login": 7}, {})["queue"] for _ in range(20)}  # type: ignore[index]
    assert len(reads) == 2  # a burst on one account spills past its bound
    orders = {router("mt5.order_send", (), {"login": 7}, {})["queue"] for _ in range(20)}  # type: ignore[index]
    assert orders == {first}  # orders never do: sent without waiting, they still run in the order sent


def test_shared_routing_sends_reads_to_the_shared_queue_and_orders_to_their_first_choice(redis_url: str) -> None:
    registry = WorkerRegistry(connect(redis_url), ttl=30)
    for tid in ("t1", "t2"):
        registry.heartbeat(tid, 20, time.time())
    settings = Settings.load(_env_file=None, redis_url=redis_url, routing="shared")
    router = AffinityRouter.from_settings(settings, connect(redis_url))
    first = terminal_queue_name(choose(7, {"t1": 20, "t2": 20}) or "")
    assert [None] * 3 == [router.queue_for(7), router("mt5.account_info", (), {"login": 7}, {}), router.queue_for(8)]
    assert {"queue": first} == router("mt5.order_send", (), {"login": 7}, {})
    assert first == router.queue_for(7, ordered=True)
    affinity = AffinityRouter.from_settings(Settings.load(_env_file=None, redis_url=redis_url), connect(redis_url))
    assert first == affinity.queue_for(7)  # the default: the account's terminal


def test_adaptive_routing_sends_reads_past_a_busy_terminal_to_the_shared_queue_and_orders_to_it(
    redis_url: str,
) -> None:
    registry = WorkerRegistry(connect(redis_url), ttl=30)
    now = time.time()
    first_id = choose(7, {"t1": 20, "t2": 20}) or ""
    for tid in ("t1", "t2"):
        registry.heartbeat(tid, 20, now)
        registry.report_load(tid, LoadReport(backlog=40 if tid == first_id else 0, rate=0.0, at=now))
    settings = Settings.load(_env_file=None, redis_url=redis_url, routing="adaptive")
    router = AffinityRouter.from_settings(settings, connect(redis_url))
    first = terminal_queue_name(first_id)
    assert router("mt5.account_info", (), {"login": 7}, {}) is None  # its terminal is past its bound: shared
    assert {"queue": first} == router("mt5.order_send", (), {"login": 7}, {})
    registry.report_load(first_id, LoadReport(backlog=0, rate=0.0, at=time.time()))
    router.refresh()
    assert {"queue": first} == router("mt5.account_info", (), {"login": 7}, {})  # within it again: its terminal


class ReferenceRouter(AffinityRouter):
    """The router as the definitions state it: every live worker ranked and estimated on every send."""

    def queue_for(self, login: int, *, ordered: bool = False) -> str | None:
        now = self._clock()
        with self._lock:
            live = self._reading(now)
            if self.load_factor <= 0 or ordered:
                terminal_id = choose(login, live)
            else:
                backlogs = self._loads.estimates(live, now)
                terminal_id = choose_bounded(login, live, backlogs, self.load_factor, self.load_floor)
                if terminal_id is not None:
                    self._loads.sent(terminal_id, now)
        return terminal_queue_name(terminal_id) if terminal_id else None


def test_the_routers_cached_choices_are_the_definitions_through_joins_departures_and_load(redis_url: str) -> None:
    rng = random.Random(12)
    clock = [1_000.0]
    registry = WorkerRegistry(connect(redis_url), ttl=30)
    workers = {f"t{i}": 20 for i in range(60)}
    fast = AffinityRouter(registry, 0.5, lambda: clock[0], load_factor=0.1, load_floor=10)
    reference = ReferenceRouter(registry, 0.5, lambda: clock[0], load_factor=0.1, load_floor=10)
    hot = [rng.randint(1, 3_000) for _ in range(20)]
    spilled = 0
    for phase in range(12):
        if phase % 3 == 1:  # a worker joins, one leaves, one changes capacity
            workers[f"n{phase}"] = 20
            registry.deregister(sorted(workers)[phase], clock[0])
            del workers[sorted(workers)[phase]]
            workers[sorted(workers)[-phase]] = 40
        for tid, capacity in workers.items():
            registry.heartbeat(tid, capacity, clock[0])
            registry.report_load(tid, LoadReport(rng.randint(0, 40), rng.choice((0.0, 5.0, 20.0)), clock[0]))
        for _ in range(400):
            clock[0] += 0.005
            login = rng.choice(hot) if rng.random() < 0.5 else rng.randint(1, 3_000)
            ordered = rng.random() < 0.05
            queue = fast.queue_for(login, ordered=ordered)
            assert reference.queue_for(login, ordered=ordered) == queue, (phase, login)
            spilled += queue != terminal_queue_name(choose(login, workers) or "")
    assert spilled > 100  # bounded load did pass over first choices, so the fast path's spills were checked
    assert fast.full_rankings > 0  # and some sends looked past the cached top of their ranking
    plain, reference_plain = (
        AffinityRouter(registry, 0.5, lambda: clock[0]),
        ReferenceRouter(registry, 0.5, lambda: clock[0]),
    )
    assert [plain.queue_for(n) for n in range(500)] == [reference_plain.queue_for(n) for n in range(500)]


def test_a_heartbeat_returns_the_departed_members_in_its_round_trip(redis_url: str) -> None:
    registry = WorkerRegistry(connect(redis_url), ttl=30)
    assert Beat(1, {}) == registry.heartbeat("t1", 20, now=1000)
    WorkerRegistry(connect(redis_url), ttl=5).heartbeat("t2", 20, now=1000)
    assert Beat(2, {}) == registry.heartbeat("t1", 20, now=1004)
    assert Beat(1, {"t2": 1005.0}) == registry.heartbeat("t1", 20, now=1006)  # what the worker's board shows
    assert {"t2": 1005.0} == registry.read(1006).departed
    assert ["t1"] == registry.live_ids(1006)
