"""Adaptive routing (``MT5_ROUTING=adaptive``): an account's first choice while that terminal is within its load
bound, the shared queue past it, orders on the first choice always; and the shared sends in the fleet's backlog."""

from __future__ import annotations

from typing import cast

import pytest

from mt5_worker.fleet.load import SEND_MEMORY, LoadReport, LoadView
from mt5_worker.fleet.registry import Membership, WorkerRegistry
from mt5_worker.fleet.routing import AffinityRouter, choose, terminal_queue_name
from mt5_worker.settings import Settings

FOUR = {f"t{i}": 20 for i in range(4)}
NOW = 1_000.0
LOGIN = 7
FIRST = choose(LOGIN, FOUR) or ""


class Registry:
    """Every worker of ``FOUR`` live, each with the backlog given, reported at ``NOW`` (the router sends just after)."""

    def __init__(self, backlogs: dict[str, int]) -> None:
        self.loads = {tid: LoadReport(backlogs.get(tid, 0), 0.0, NOW) for tid in FOUR}

    def read(self, now: float) -> Membership:
        return Membership(dict(FOUR), {}, dict(self.loads))


def router(backlogs: dict[str, int], *, floor: int = 2, mode: str = "adaptive") -> AffinityRouter:
    registry = cast(WorkerRegistry, Registry(backlogs))
    return AffinityRouter(registry, cache_seconds=60, clock=lambda: NOW + 0.1, load_factor=0.1, load_floor=floor,
                          mode=mode)  # type: ignore[arg-type]  # fmt: skip


def test_an_idle_fleet_keeps_each_account_on_its_first_choice_up_to_the_floor_then_spills_to_the_shared_queue() -> None:
    adaptive = router({})
    # Idle fleet, floor 2: two on the first choice, then its bound (max(2, 1.1 x the mean)) is reached.
    assert [terminal_queue_name(FIRST)] * 2 + [None] * 3 == [adaptive.queue_for(LOGIN) for _ in range(5)]
    assert 2 == adaptive.backlogs()[FIRST]  # the shared sends are in no terminal's estimate


def test_a_terminal_as_busy_as_the_fleet_keeps_its_accounts_and_a_busier_one_sends_them_to_the_shared_queue() -> None:
    fair = router(dict.fromkeys(FOUR, 30))
    assert terminal_queue_name(FIRST) == fair.queue_for(LOGIN)
    busier = router({tid: 60 if tid == FIRST else 10 for tid in FOUR})
    assert busier.queue_for(LOGIN) is None
    assert busier("mt5.account_info", (), {"login": LOGIN}, {}) is None  # as a Celery router: the default queue
    # Bounded load ("affinity") would send it past the first choice to the account's next one instead.
    bounded = router({tid: 60 if tid == FIRST else 10 for tid in FOUR}, mode="affinity")
    assert bounded.queue_for(LOGIN) not in (None, terminal_queue_name(FIRST))


def test_orders_stay_on_the_first_choice_however_busy_it_is() -> None:
    busier = router({tid: 100 if tid == FIRST else 0 for tid in FOUR})
    first = {"queue": terminal_queue_name(FIRST)}
    assert [first] * 5 == [busier("mt5.order_send", (), {"login": LOGIN}, {}) for _ in range(5)]
    assert terminal_queue_name(FIRST) == busier.queue_for(LOGIN, ordered=True)
    assert busier.queue_for(LOGIN) is None  # its reads do go to the shared queue


def test_shared_sends_grow_the_fleets_total_so_the_bound_follows_the_spill() -> None:
    adaptive = router(dict.fromkeys(FOUR, 20), floor=0)
    # 20 each: the first choice takes 4 more (24 of 84 <= ceil(1.1 x 84 / 4) = 24), then 25 of 85-87 is past 24.
    placed = [adaptive.queue_for(LOGIN) for _ in range(7)]
    assert [terminal_queue_name(FIRST)] * 4 + [None] * 3 == placed
    # The 3 spilled requests count in the total: 24 + 60 + 3 + 1 = 88, bound ceil(1.1 x 88 / 4) = 25 (without
    # them 85 and 24: the shared queue again).
    assert terminal_queue_name(FIRST) == adaptive.queue_for(LOGIN)


def test_a_shared_send_counts_until_every_reporting_terminal_has_reported_after_it() -> None:
    view = LoadView()
    view.update({"t1": LoadReport(4, 0.0, 100.0), "t2": LoadReport(6, 0.0, 101.0)})
    view.sent_shared(100.5)
    assert 1 == view.shared(100.6)
    assert 11 == view.total({"t1": 20, "t2": 20}, 100.6)
    view.update({"t1": LoadReport(4, 0.0, 100.8), "t2": LoadReport(7, 0.0, 101.2)})  # both after it: reserved
    assert 0 == view.shared(101.3)
    view.update({})  # no reports at all: a send still counts, for SEND_MEMORY at most
    view.sent_shared(200.0)
    assert 1 == view.shared(200.0 + SEND_MEMORY - 1)
    assert 0 == view.shared(200.0 + SEND_MEMORY + 1)


def test_the_setting_selects_adaptive_routing_and_the_router_refuses_an_unknown_mode() -> None:
    settings = Settings.load(_env_file=None, MT5_ROUTING="adaptive")
    assert "adaptive" == settings.routing
    assert "adaptive" == AffinityRouter.from_settings(settings).mode  # a lazy Redis client: nothing is read
    with pytest.raises(ValueError, match="routing must be one of"):
        router({}, mode="spread")
