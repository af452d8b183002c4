"""The order records on a real Redis: one owner per key; a takeover only once the owner cannot send any more (its
attempt ended without an outcome, its lease ran out, or its worker's process was replaced), never for a copy of
the same task or a worker that merely left the registry; ownership confirmed before sending; one outcome per key."""

from __future__ import annotations

import threading
import time

import redis

from mt5_worker.fleet.order_journal import Attempt, OpenKeys, OrderJournal
from mt5_worker.fleet.registry import WorkerRegistry


def journal(url: str, lease: float = 60.0) -> tuple[OrderJournal, redis.Redis]:
    client = redis.Redis.from_url(url, decode_responses=True)
    return OrderJournal(client, ttl=3600, lease=lease), client


def attempt(worker: str = "w1@h", incarnation: str = "i1", task: str = "t1", token: str = "a1") -> Attempt:
    return Attempt(worker, incarnation, task, token)


def test_a_key_is_claimed_once_then_answers_done_or_conflict(redis_url: str) -> None:
    j, r = journal(redis_url)
    first = attempt()
    assert j.claim(7, "k", "fp", first) == "claimed"
    assert j.claim(7, "k", "fp", attempt("w2@h", "i2", "t2", "a2")) == "busy"  # its owner may still send
    assert j.claim(7, "k", "other", attempt("w2@h", "i2", "t2", "a2")) == "conflict"
    assert j.claim(8, "k", "fp", attempt(token="a3")) == "claimed"  # keys are per account
    assert j.complete(7, "k", "fp", {"retcode": 10009, "deal": 1})
    assert not j.complete(7, "k", "fp", {"retcode": 10006})  # the first outcome stays
    assert j.claim(7, "k", "fp", attempt("w2@h", "i2", "t3", "a4")) == "done"
    record = j.read(7, "k")
    assert record is not None and record.state == "done" and record.outcome == {"retcode": 10009, "deal": 1}
    assert 3590 < r.ttl(j.record_key(7, "k")) <= 3600
    assert j.read(7, "never") is None


def test_no_takeover_while_the_owner_may_still_send(redis_url: str) -> None:
    j, r = journal(redis_url)
    registry = WorkerRegistry(r, ttl=30)
    j.announce("w1@h", "i1")
    assert j.claim(1, "a", "fp", attempt()) == "claimed"
    # A copy of the same task (a broker redelivered it while it runs) is not proof that the first copy stopped.
    assert j.claim(1, "a", "fp", attempt("w2@h", "i2", "t1", "a2")) == "busy"
    # Nor is the owner leaving the registry (a warm shutdown deregisters while its last task runs).
    registry.heartbeat("w1@h", 20, time.time())
    registry.deregister("w1@h", time.time())
    assert j.claim(1, "a", "fp", attempt("w2@h", "i2", "t9", "a3")) == "busy"


def test_takeover_once_the_attempt_ended_its_lease_ran_out_or_its_process_was_replaced(redis_url: str) -> None:
    j, _ = journal(redis_url, lease=0.5)
    ended = attempt(token="a1")
    assert j.claim(1, "ended", "fp", ended) == "claimed"
    assert j.unknown(1, "ended", ended)  # it failed without knowing whether the order left
    assert j.claim(1, "ended", "fp", attempt("w2@h", "i2", "t2", "a2")) == "reconcile"

    assert j.claim(1, "leased", "fp", attempt(token="a3")) == "claimed"
    assert j.claim(1, "leased", "fp", attempt("w2@h", "i2", "t4", "a4")) == "busy"
    time.sleep(0.6)  # Redis's clock decides, not the workers'
    assert j.claim(1, "leased", "fp", attempt("w2@h", "i2", "t4", "a4")) == "reconcile"

    j2, _ = journal(redis_url, lease=60)
    j2.announce("w1@h", "i1")
    assert j2.claim(1, "replaced", "fp", attempt(token="a5")) == "claimed"
    assert j2.claim(1, "replaced", "fp", attempt("w2@h", "i2", "t6", "a6")) == "busy"
    j2.announce("w1@h", "i1-next")  # w1's next process started: the one holding the claim is gone
    assert j2.claim(1, "replaced", "fp", attempt("w2@h", "i2", "t6", "a6")) == "reconcile"
    record = j2.read(1, "replaced")
    assert record is not None and (record.worker, record.task, record.takeovers) == ("w2@h", "t6", 1)


def test_only_the_current_owner_confirms_releases_or_ends_an_attempt(redis_url: str) -> None:
    j, _ = journal(redis_url, lease=0.5)
    old, new = attempt(token="old"), attempt("w2@h", "i2", "t2", "new")
    assert j.claim(3, "k", "fp", old) == "claimed"
    assert j.confirm(3, "k", old)
    time.sleep(0.6)
    assert j.claim(3, "k", "fp", new) == "reconcile"
    assert not j.confirm(3, "k", old)  # taken over: the old attempt must not send
    assert not j.release(3, "k", old) and not j.unknown(3, "k", old)
    assert j.confirm(3, "k", new) and j.release(3, "k", new)
    assert j.claim(3, "k", "other", old) == "claimed"  # free again, for any request
    j.complete(3, "k", "other", {"retcode": 10009})
    assert not j.release(3, "k", old) and j.read(3, "k") is not None  # an outcome is never released


def test_an_outcome_written_after_the_record_vanished_keeps_the_key(redis_url: str) -> None:
    j, r = journal(redis_url)
    assert j.claim(4, "k", "fp", attempt()) == "claimed"
    r.delete(j.record_key(4, "k"))  # evicted, say
    assert j.complete(4, "k", "fp", {"retcode": 10009})
    assert j.claim(4, "k", "fp", attempt(token="a2")) == "done"


def test_of_many_concurrent_claims_exactly_one_wins(redis_url: str) -> None:
    j, _ = journal(redis_url)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def contend(i: int) -> None:
        barrier.wait()
        results.append(j.claim(9, "race", "fp", attempt(f"w{i}@h", f"i{i}", f"t{i}", f"a{i}")))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy"] * 7 + ["claimed"]


def test_hostile_keys_never_shape_redis_key_names(redis_url: str) -> None:
    j, r = journal(redis_url)
    hostile = "*\r\nFLUSHALL\r\n:{}mt5:workers"
    assert j.claim(4, hostile, "fp", attempt()) == "claimed"
    names = r.keys("*")
    # the record, the keys not done, the journal's epoch, the worker's incarnation
    assert sorted(names) == sorted([j.record_key(4, hostile), j.pending_key, j.epoch_key, j.incarnation_key("w1@h")])
    assert "FLUSHALL" not in j.record_key(4, hostile)
    assert r.zrange(j.pending_key, 0, -1) == [j.record_key(4, hostile)]
    record = j.read(4, hostile)
    assert record is not None and record.key == hostile


def counts(found: OpenKeys) -> tuple[int, int, int]:
    return found.pending, found.lease_expired, found.unknown


def test_the_keys_not_done_are_indexed_by_state_in_step_with_the_records(redis_url: str) -> None:
    """What ``mt5-worker status`` lists and the ``mt5_trading_keys`` metrics count: pending keys (live lease or
    past it), unknown ones; a key leaves the index when done or released."""
    j, r = journal(redis_url, lease=0.5)
    assert (0, 0, 0) == counts(j.open_keys())
    first, second, third = attempt(token="a1"), attempt(token="a2"), attempt(token="a3")
    assert j.claim(1, "sent", "fp", first) == "claimed"
    assert j.claim(1, "lost", "fp", second) == "claimed"
    assert j.claim(1, "refused", "fp", third) == "claimed"
    assert (3, 0, 0) == counts(j.open_keys())
    assert j.release(1, "refused", third)  # refused before it left: forgotten
    assert j.unknown(1, "lost", second)
    found = j.open_keys()
    assert (1, 0, 1) == counts(found) and found.oldest_unknown_age is not None and found.oldest_unknown_age < 1
    time.sleep(0.6)  # "sent"'s lease runs out: its owner died (or is stuck), the next attempt reconciles
    found = j.open_keys()
    assert (0, 1, 1) == counts(found) and found.oldest_lease_expired_age is not None
    assert 0 < found.oldest_lease_expired_age < 1
    listed = {(rec.key, rec.state, rec.login, rec.worker) for rec in j.open_records()}
    assert {("lost", "unknown", 1, "w1@h"), ("sent", "lease_expired", 1, "w1@h")} == listed

    assert j.claim(1, "lost", "fp", attempt("w2@h", "i2", "t2", "a4")) == "reconcile"  # unknown -> pending again
    assert (1, 1, 0) == counts(j.open_keys())
    assert j.complete(1, "lost", "fp", {"retcode": 10009})
    assert j.complete(1, "sent", "fp", {"retcode": 10009})
    assert (0, 0, 0) == counts(j.open_keys()) and [] == j.open_records()
    assert 0 == r.zcard(j.pending_key) + r.zcard(j.unknown_key)


def test_index_entries_of_expired_records_are_dropped(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    j = OrderJournal(client, ttl=1, lease=0.2)
    ended = attempt(token="a1")
    assert j.claim(2, "old", "fp", ended) == "claimed" and j.unknown(2, "old", ended)
    time.sleep(1.2)  # the record expired (ttl 1 s); its index entry is left, and not listed
    assert [] == j.open_records()
    assert j.claim(2, "new", "fp", attempt(token="a2")) == "claimed"  # the next claim drops the stale entry
    assert (1, 0, 0) == counts(j.open_keys())
