"""The order records on a real Redis: one owner per key, takeover only by the same task, after the lease, or when
the owner left the fleet; one outcome per key; records expire after MT5_TRADING_RECORD_TTL."""

from __future__ import annotations

import threading

import redis

from mt5_worker.fleet.order_journal import OrderJournal
from mt5_worker.fleet.registry import WorkerRegistry
from tests.conftest import ManualClock


def journal(url: str, clock: ManualClock, lease: float = 60.0) -> tuple[OrderJournal, redis.Redis]:
    client = redis.Redis.from_url(url, decode_responses=True)
    return OrderJournal(client, ttl=3600, lease=lease, clock=clock), client


def test_a_key_is_claimed_once_then_answers_done_or_conflict(redis_url: str) -> None:
    clock = ManualClock()
    j, r = journal(redis_url, clock)
    WorkerRegistry(r).heartbeat("w1@h", 20, clock.now)
    assert j.claim(7, "k", "fp", "w1@h", "task-1") == "claimed"
    assert j.claim(7, "k", "fp", "w2@h", "task-2") == "busy"  # a live owner within its lease
    assert j.claim(7, "k", "other", "w2@h", "task-2") == "conflict"
    assert j.claim(8, "k", "fp", "w2@h", "task-2") == "claimed"  # keys are per account
    assert j.complete(7, "k", {"retcode": 10009, "deal": 1})
    assert not j.complete(7, "k", {"retcode": 10006})  # the first outcome stays
    assert j.claim(7, "k", "fp", "w2@h", "task-3") == "done"
    record = j.read(7, "k")
    assert record is not None and record.state == "done" and record.outcome == {"retcode": 10009, "deal": 1}
    assert 3590 < r.ttl(j.record_key(7, "k")) <= 3600
    assert j.read(7, "never") is None


def test_takeover_by_the_same_task_after_the_lease_or_when_the_owner_left(redis_url: str) -> None:
    clock = ManualClock()
    j, r = journal(redis_url, clock, lease=60)
    registry = WorkerRegistry(r, ttl=30)
    registry.heartbeat("w1@h", 20, clock.now)
    registry.heartbeat("w2@h", 20, clock.now)
    assert j.claim(1, "a", "fp", "w1@h", "t1") == "claimed"
    assert j.claim(1, "a", "fp", "w2@h", "t1") == "reconcile"  # the same task redelivered to another worker
    record = j.read(1, "a")
    assert record is not None and (record.worker, record.takeovers) == ("w2@h", 1)

    assert j.claim(1, "b", "fp", "w1@h", "t2") == "claimed"
    clock.advance(59)
    registry.heartbeat("w1@h", 20, clock.now)
    assert j.claim(1, "b", "fp", "w2@h", "t3") == "busy"
    clock.advance(2)  # the lease ran out, the owner is alive: it took too long to be trusted
    registry.heartbeat("w1@h", 20, clock.now)
    assert j.claim(1, "b", "fp", "w2@h", "t3") == "reconcile"

    assert j.claim(1, "c", "fp", "w1@h", "t4") == "claimed"
    registry.deregister("w1@h", clock.now)  # the owner left the fleet within its lease
    assert j.claim(1, "c", "fp", "w2@h", "t5") == "reconcile"
    assert j.claim(1, "d", "fp", "never-registered@h", "t6") == "claimed"
    assert j.claim(1, "d", "fp", "w2@h", "t7") == "reconcile"


def test_release_frees_only_the_owners_pending_claim(redis_url: str) -> None:
    clock = ManualClock()
    j, r = journal(redis_url, clock)
    WorkerRegistry(r).heartbeat("w1@h", 20, clock.now)
    assert j.claim(3, "k", "fp", "w1@h", "t1") == "claimed"
    assert not j.release(3, "k", "t2")
    assert j.release(3, "k", "t1")
    assert j.claim(3, "k", "other", "w1@h", "t2") == "claimed"  # free again, for any request
    j.complete(3, "k", {"retcode": 10009})
    assert not j.release(3, "k", "t2") and j.read(3, "k") is not None  # an outcome is never released


def test_of_many_concurrent_claims_exactly_one_wins(redis_url: str) -> None:
    clock = ManualClock()
    j, r = journal(redis_url, clock)
    for i in range(8):
        WorkerRegistry(r).heartbeat(f"w{i}@h", 20, clock.now)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def contend(i: int) -> None:
        barrier.wait()
        results.append(j.claim(9, "race", "fp", f"w{i}@h", f"t{i}"))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy"] * 7 + ["claimed"]


def test_hostile_keys_never_shape_redis_key_names(redis_url: str) -> None:
    clock = ManualClock()
    j, r = journal(redis_url, clock)
    hostile = "*\r\nFLUSHALL\r\n:{}mt5:workers"
    assert j.claim(4, hostile, "fp", "w@h", "t") == "claimed"
    names = r.keys("*")
    assert names == [j.record_key(4, hostile)] and "FLUSHALL" not in names[0]
    record = j.read(4, hostile)
    assert record is not None and record.key == hostile
