"""Bounded-load affinity: the pure choice (ranking, bounds, spills) and the backlog estimates it is fed."""

from __future__ import annotations

import random
from typing import cast

import pytest

from mt5_worker.errors import SettingsError
from mt5_worker.fleet.load import SEND_MEMORY, LoadReport, LoadView
from mt5_worker.fleet.registry import Membership, WorkerRegistry
from mt5_worker.fleet.routing import AffinityRouter, choose, choose_bounded, load_bounds, ranking, terminal_queue_name
from mt5_worker.settings import Settings

FOUR = {f"t{i}": 20 for i in range(4)}
LOGINS = range(1, 2_001)


def test_the_ranking_starts_with_the_rendezvous_choice_and_holds_every_worker_once() -> None:
    for login in LOGINS:
        order = ranking(login, FOUR)
        assert choose(login, FOUR) == order[0]
        assert sorted(FOUR) == sorted(order)


def test_every_account_stays_on_its_first_choice_while_loads_are_fair() -> None:
    for backlogs in ({}, dict.fromkeys(FOUR, 7), {"t0": 9, "t1": 7, "t2": 8, "t3": 8}):
        moved = [login for login in LOGINS if choose_bounded(login, FOUR, backlogs, 0.25) != choose(login, FOUR)]
        assert [] == moved, backlogs


def test_an_overloaded_first_choice_spills_to_the_next_in_the_accounts_own_ranking() -> None:
    for login in LOGINS:
        first, second, third, _ = ranking(login, FOUR)
        backlogs = dict.fromkeys(FOUR, 10) | {first: 40}  # mean 17.5 (18 with this request): 40 > 1.25 x that
        assert second == choose_bounded(login, FOUR, backlogs, 0.25)
        backlogs[second] = 40  # both overloaded: the third choice, still the account's own order
        assert third == choose_bounded(login, FOUR, backlogs, 0.25)


def test_spilled_accounts_spread_over_the_others_not_onto_one() -> None:
    backlogs = {"t0": 100, "t1": 0, "t2": 0, "t3": 0}
    spilled = [choose_bounded(login, FOUR, backlogs, 0.25) for login in LOGINS if choose(login, FOUR) == "t0"]
    counts = {tid: spilled.count(tid) for tid in ("t1", "t2", "t3")}
    assert "t0" not in spilled
    assert all(len(spilled) / 3 * 0.8 < n < len(spilled) / 3 * 1.2 for n in counts.values()), counts


def test_the_bound_is_the_factor_over_the_capacity_share_of_the_mean_rounded_up_never_below_the_floor() -> None:
    workers = {"small": 10, "big": 30}
    # 39 waiting + this request = 40; shares 1/4 and 3/4; x1.5 -> 15 and 45
    assert {"small": 15, "big": 45} == load_bounds(workers, {"small": 9, "big": 30}, 0.5, floor=0)
    assert {"small": 20, "big": 45} == load_bounds(workers, {"small": 9, "big": 30}, 0.5, floor=20)
    assert dict.fromkeys(FOUR, 1) == load_bounds(FOUR, {}, 0.25, floor=0)  # ceil(1.25 x 1 / 4): an idle fleet


def test_a_terminal_within_the_floor_is_never_passed_over() -> None:
    for login in range(1, 200):
        first = choose(login, FOUR)
        backlogs = dict.fromkeys(FOUR, 0) | {first: 9}  # far above the mean of ~2.5, within a floor of 10
        assert first == choose_bounded(login, FOUR, backlogs, 0.25, floor=10)
        assert first != choose_bounded(login, FOUR, backlogs, 0.25, floor=0)


def test_a_burst_on_one_account_stays_on_its_terminal_up_to_the_floor() -> None:
    backlogs = dict.fromkeys(FOUR, 0)
    first = choose(7, FOUR)
    for n in range(10):
        assert first == choose_bounded(7, FOUR, backlogs, 0.25, floor=10), n
        backlogs[first] += 1


def test_the_choice_is_deterministic_and_only_ever_a_member() -> None:
    rng = random.Random(3)
    for _ in range(2_000):
        workers = {f"t{i}": rng.choice((10, 20, 40)) for i in range(rng.randint(1, 6))}
        backlogs = {tid: rng.randint(0, 50) for tid in workers} | {"departed": 0, "gone": 1_000}
        login, factor, floor = rng.randint(1, 10**9), rng.choice((0.0, 0.1, 0.25, 1.0)), rng.choice((0, 5))
        chosen = choose_bounded(login, workers, backlogs, factor, floor)
        assert chosen in workers
        shuffled = dict(rng.sample(list(workers.items()), len(workers)))
        assert chosen == choose_bounded(login, shuffled, dict(reversed(backlogs.items())), factor, floor)
        bounds = load_bounds(workers, backlogs, factor, floor)
        assert backlogs[chosen] + 1 <= bounds[chosen]  # a worker within its bound exists, and is the one taken
        skipped = ranking(login, workers)[: ranking(login, workers).index(chosen)]
        assert all(backlogs[tid] + 1 > bounds[tid] for tid in skipped)


def test_no_worker_no_choice_and_negative_settings_are_refused() -> None:
    assert choose_bounded(7, {}, {}, 0.25) is None
    with pytest.raises(ValueError, match="must be >= 0"):
        choose_bounded(7, FOUR, {}, -0.1)
    for name, value in (("MT5_ROUTING_LOAD_FACTOR", "-0.5"), ("MT5_ROUTING_LOAD_FLOOR", "-1"),
                        ("MT5_LOAD_REPORT_INTERVAL", "0")):  # fmt: skip
        with pytest.raises(SettingsError, match=name):
            Settings.load(_env_file=None, **{name: value})
    assert 0 == Settings.load(_env_file=None, MT5_ROUTING_LOAD_FACTOR="0").routing_load_factor  # 0 = off


# --- the backlog estimates ------------------------------------------------------------------------------------


def test_a_report_is_drained_at_its_rate_and_this_routers_later_sends_are_added() -> None:
    view = LoadView()
    view.update({"t1": LoadReport(backlog=30, rate=10.0, at=100.0)})
    assert 30 == view.estimate("t1", 100.0)
    assert 20 == view.estimate("t1", 101.0)  # 10 started since
    view.sent("t1", 100.5)
    view.sent("t1", 101.0)
    assert 22 == view.estimate("t1", 101.0)
    assert 0 == view.estimate("t1", 110.0)  # drained: never below zero
    view.update({"t1": LoadReport(backlog=5, rate=0.0, at=100.8)})  # a newer report counts the send at 100.5
    assert 6 == view.estimate("t1", 101.0)


def test_without_a_report_only_recent_own_sends_count() -> None:
    view = LoadView()
    for t in (0.0, 1.0, 2.0):
        view.sent("t1", t)
    assert 3 == view.estimate("t1", 2.0)
    assert 2 == view.estimate("t1", SEND_MEMORY + 0.5)  # the send at 0.0 is forgotten
    assert 0 == view.estimate("t2", 2.0)


def test_answers_since_the_report_are_served_where_the_terminal_reported_no_rate() -> None:
    view = LoadView()
    view.update({"t1": LoadReport(backlog=0, rate=0.0, at=100.0)})  # idle: it reports no rate
    view.answered("t1", 99.9)  # before the report: the report has it already
    for t in (100.1, 100.2, 100.3):
        view.sent("t1", t)
    view.answered("t1", 100.15)
    view.answered("t1", 100.25)
    assert 1 == view.estimate("t1", 100.3)  # three sent, two answered: one waits
    view.update({"t1": LoadReport(backlog=10, rate=20.0, at=101.0)})
    for _ in range(5):
        view.answered("t1", 101.1)
    assert 8 == view.estimate("t1", 101.1)  # a reported rate is the evidence: it drained 2, whatever the answers
    view.update({})
    view.sent("t1", 102.0)
    view.answered("t1", 102.1)
    assert 0 == view.estimate("t1", 102.1)  # no report: this router's sends less its answers


def test_a_client_waiting_for_each_answer_stays_on_its_terminal_however_many_it_sends() -> None:
    fleet = {"t1": 20, "t2": 20}
    login = next(n for n in range(1, 100) if choose(n, fleet) == "t1")
    now = [100.0]
    registry = cast(WorkerRegistry, _IdleFleet(fleet))
    waiting = AffinityRouter(registry, cache_seconds=60, clock=lambda: now[0], load_factor=0.1, load_floor=10)
    not_waiting = AffinityRouter(registry, cache_seconds=60, clock=lambda: now[0], load_factor=0.1, load_floor=10)
    placed: dict[str, list[str | None]] = {"waiting": [], "not": []}
    for _ in range(100):  # within one reading: the reports say idle, rate 0, all along
        now[0] += 0.005
        queue = waiting.queue_for(login)
        placed["waiting"].append(queue)
        waiting.answered(queue)
        placed["not"].append(not_waiting.queue_for(login))
    assert {terminal_queue_name("t1")} == set(placed["waiting"])
    # Without the answers the sends look like a backlog: the 11th is past the floor and 1.1 x the mean.
    assert 10 == placed["not"].index(terminal_queue_name("t2"))


def test_answers_are_kept_only_while_they_can_count() -> None:
    view = LoadView()
    for t in range(3 * int(SEND_MEMORY)):  # one a second, and no estimate asked for: nothing else prunes them
        view.answered("t1", float(t))
    assert int(SEND_MEMORY) == len(view._answered["t1"])
    plain = AffinityRouter(cast(WorkerRegistry, _IdleFleet({"t1": 20})), load_factor=0.0)
    plain.answered(terminal_queue_name("t1"))
    assert not plain._loads._answered  # plain affinity counts no send, so no answer either


class _IdleFleet:
    """A registry whose workers each reported an empty backlog and no rate at 100.0."""

    def __init__(self, fleet: dict[str, int]) -> None:
        self.fleet = fleet

    def read(self, now: float) -> Membership:
        return Membership(dict(self.fleet), {}, {tid: LoadReport(0, 0.0, 100.0) for tid in self.fleet})


def test_a_report_is_decoded_only_when_well_formed() -> None:
    report = LoadReport(12, 3.5, 1_700_000_000.25)
    assert report == LoadReport.decode(report.encode())
    assert report == LoadReport.decode(report.encode().encode())
    for raw in (None, "", "12", "a b c", "-1 0 5", "1 -2 5", "1 nan 5", "1 2 inf", "1 2 3 4"):
        assert LoadReport.decode(raw) is None, raw
