"""What keeps a send cheap in a large fleet gives the same answers as the definitions it stands in for: the cached
top of each account's ranking (through joins, departures and capacity changes), the fleet's backlog summed over
arrays, and the reapers every worker elects for a departed queue."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mt5_worker.fleet.load import SEND_MEMORY, LoadReport, LoadView
from mt5_worker.fleet.ranking import RankingCache
from mt5_worker.fleet.registry import REAPERS, reapers
from mt5_worker.fleet.routing import choose, ranking, rendezvous_score


def test_cached_prefixes_stay_the_top_of_the_ranking_as_workers_join_leave_and_change_capacity() -> None:
    """Prefixes of 4, and deeper ones (an account spilling past its prefix), through every kind of change."""
    rng = random.Random(4)
    workers = {f"t{i}": rng.choice((10, 20)) for i in range(40)}
    cache = RankingCache(rendezvous_score, depth=4, max_accounts=300)
    cache.update(workers)
    logins = list(range(1, 400))  # more than max_accounts: evictions too
    changes = Counter[str]()
    for step in range(60):
        for login in rng.sample(logins, 80):
            prefix = cache.deeper(login) if rng.random() < 0.1 else cache.prefix(login)  # deeper: 16, 64 ...
            assert 1 <= len(prefix) <= len(workers)
            assert tuple(ranking(login, workers)[: len(prefix)]) == prefix, (step, login)
            assert choose(login, workers) == cache.first(login)
        kind = rng.choice(("join", "leave", "capacity", "same"))
        changes[kind] += 1
        if kind == "join":
            workers[f"n{step}"] = rng.choice((10, 20, 40))
        elif kind == "leave" and len(workers) > 5:
            del workers[rng.choice(sorted(workers))]
        elif kind == "capacity":
            workers[rng.choice(sorted(workers))] = rng.choice((5, 30))
        cache.update(dict(workers))
    assert min(changes.values()) >= 5, changes
    assert len(cache) <= 300


def test_a_join_costs_no_ranking_afresh_and_a_departure_only_for_the_accounts_it_led() -> None:
    workers = {f"t{i}": 20 for i in range(100)}
    cache = RankingCache(rendezvous_score, depth=1)
    cache.update(workers)
    for login in range(1_000):
        cache.prefix(login)
    assert 1_000 == cache.misses
    cache.update(workers | {"new": 20})  # a hash or two per cached account, nothing re-ranked
    for login in range(1_000):
        cache.prefix(login)
    assert 1_000 == cache.misses
    led = sum(cache.first(login) == "t7" for login in range(1_000))
    cache.update({tid: c for tid, c in workers.items() if tid != "t7"} | {"new": 20})
    for login in range(1_000):
        cache.prefix(login)
    assert 1_000 + led == cache.misses  # depth 1: only the accounts t7 led lost their whole prefix


def test_no_workers_no_prefix_and_bad_sizes_are_refused() -> None:
    cache = RankingCache(rendezvous_score)
    assert () == cache.prefix(7)
    assert cache.first(7) is None
    with pytest.raises(ValueError, match=">= 1"):
        RankingCache(rendezvous_score, depth=0)


def test_the_fleet_total_is_the_sum_of_the_estimates() -> None:
    rng = random.Random(9)
    view = LoadView()
    now = 1_000.0
    ids: dict[str, int] = {}
    for reading in range(40):
        ids = {f"t{i}": 20 for i in range(rng.randint(1, 60))}
        reports = {tid: LoadReport(rng.randint(0, 40), rng.choice((0.0, 2.5, 7.0)), now - rng.uniform(0, 2))
                   for tid in ids if rng.random() < 0.8}  # fmt: skip
        reports["departed"] = LoadReport(500, 0.0, now)  # not among the ids: never counted
        view.update(reports)
        for _ in range(50):
            now += rng.choice((0.0, 0.01, 0.3, -0.2, 0.5 + SEND_MEMORY * (rng.random() < 0.02)))  # -: NTP
            if rng.random() < 0.7:
                view.sent(rng.choice(sorted(ids)), now)
            if rng.random() < 0.4:
                view.answered(rng.choice(sorted(ids)), now)
            if rng.random() < 0.3:
                view.estimate(rng.choice(sorted(ids)), now)  # prunes on its own: total() must agree after it
            assert sum(view.estimates(ids, now).values()) == view.total(ids, now), reading
        now += 1.0
    assert view.total(ids, now) >= 0


def test_each_departed_queue_has_its_own_few_reapers_and_every_worker_agrees() -> None:
    live = [f"w{i}" for i in range(50)]
    departed = [f"gone{i}" for i in range(2_000)]
    elected = reapers(departed, live)
    assert set(departed) == set(elected)
    assert all(len(set(chosen)) == REAPERS and set(chosen) <= set(live) for chosen in elected.values())
    assert elected == reapers(reversed(departed), reversed(live))  # the same answer whatever the order
    load = Counter(tid for chosen in elected.values() for tid in chosen)
    mean = len(departed) * REAPERS / len(live)  # spread over the fleet (a hash ring's arcs are uneven), not on two
    assert len(load) >= 0.9 * len(live) and max(load.values()) < 5 * mean, load
    assert {"gone": ["w1"]} == reapers(["gone"], ["w1"])
    assert {"gone": []} == reapers(["gone"], [])
    # A worker leaving the ring changes only the elections it took part in.
    fewer = reapers(departed, live[1:])
    assert all(fewer[d] == chosen for d, chosen in elected.items() if "w0" not in chosen)
