"""Rendezvous hashing over the live workers (fleet/routing.py), in-process: an even spread weighted by capacity, about
1/N moving when a worker joins, only a leaver's accounts moving."""

from __future__ import annotations

from collections import Counter

from mt5_worker.fleet.routing import choose, login_of

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
