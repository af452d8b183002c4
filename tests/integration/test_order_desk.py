"""Exactly-once order sending on a real Redis and the simulated trade server: a key is sent at most once, its outcome
is recorded and answered again, a failure after the request may have left is reconciled (never resent blindly), and
a refusal before anything left frees the key."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from harness.env import simulated_now
from mt5_worker.errors import (
    IdempotencyConflictError,
    OrderOutcomeUnknownError,
    TradingDisabledError,
    TransientMT5Error,
)
from mt5_worker.fleet.order_desk import OrderDesk
from mt5_worker.fleet.order_journal import Attempt, OrderJournal
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager.order_intents import prepare
from mt5_worker.manager.trading import Trader
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal import constants as c
from tests.conftest import simulator

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

A, B = DEMO_ACCOUNTS[0], DEMO_ACCOUNTS[1]
BUY = {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy", "type_filling": "ioc"}
WORKER = "w1@test"
SETTLE = 0.3  # MT5_TRADING_SETTLE, short for the tests


def creds(account: Any) -> dict[str, Any]:
    return {"password": account.password.get_secret_value(), "server": account.server}


class Desk:
    """A desk on one simulated terminal and a real Redis, and what a test reads of both."""

    def __init__(self, url: str, sim: SimulatedTerminal) -> None:
        self.sim = sim
        self.manager = MT5ConnectionManager(sim, Settings.load(_env_file=None), sleep=lambda _: None)
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.journal = OrderJournal(self.redis, ttl=3600, lease=60)
        self.desk = OrderDesk(Trader(self.manager), self.journal, WORKER, settle=SETTLE)

    def send(self, request: dict[str, Any], key: str, task: str = "t1", account: Any = A) -> dict[str, Any]:
        return self.desk.send(prepare(account.login, request, key), task, **creds(account))

    def tagged_deals(self, key: str, account: Any = A) -> list[Any]:
        tag = prepare(account.login, BUY, key).tag
        with self.manager.acquire(account.login, **creds(account)) as call:
            deals = call("history_deals_get", 0, 2**33)
        return [d for d in deals if d.comment.startswith(tag)]


@pytest.fixture
def make_desk(redis_url: str) -> Iterator[Callable[..., Desk]]:
    made: list[Desk] = []

    def make(**options: Any) -> Desk:
        made.append(Desk(redis_url, simulator(**options)))
        return made[-1]

    yield make
    for d in made:
        d.manager.shutdown()


def test_the_same_key_and_request_is_sent_once_and_answered_again(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    first = d.send(BUY, "k1")
    assert first["retcode"] == c.TRADE_RETCODE_DONE and first["source"] == "sent" and first["deal"] > 0
    assert first["idempotency_key"] == "k1" and first["volume"] == 0.01
    again = d.send(BUY, "k1", task="t2")
    assert again["source"] == "recorded" and again["deal"] == first["deal"] and again["order"] == first["order"]
    assert d.sim.calls["order_send"] == 1 and len(d.tagged_deals("k1")) == 1
    with pytest.raises(IdempotencyConflictError, match="different order request"):
        d.send(BUY | {"volume": 0.2}, "k1", task="t3")
    assert d.sim.calls["order_send"] == 1


def test_a_server_refusal_is_an_outcome_recorded_for_the_key(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    refused = d.send(BUY | {"volume": 0.015}, "k-bad-volume")
    assert refused["retcode"] == c.TRADE_RETCODE_INVALID_VOLUME and refused["source"] == "sent"
    assert d.send(BUY | {"volume": 0.015}, "k-bad-volume", task="t2")["source"] == "recorded"
    assert d.sim.calls["order_send"] == 1


def test_executed_then_ipc_failure_is_reconciled_not_resent(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    d.sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)  # the server executes, the reply is lost
    with pytest.raises(OrderOutcomeUnknownError, match="never resent blindly"):
        d.send(BUY, "k2")
    record = d.journal.read(A.login, "k2")
    assert record is not None and record.state == "unknown"  # the next attempt may reconcile at once
    found = d.send(BUY, "k2")  # Celery's retry: the same task id, on this or another worker
    assert found["source"] == "reconciled" and found["retcode"] == c.TRADE_RETCODE_DONE
    deals = d.tagged_deals("k2")
    assert len(deals) == 1 and found["deal"] == deals[0].ticket and d.sim.calls["order_send"] == 1
    assert d.send(BUY, "k2", task="t9")["source"] == "recorded"


def test_a_failure_before_execution_is_reconciled_then_sent_once(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    d.sim.inject_fault("order_send", fail_first=1, code=-10002)  # lost on the way: the server never saw it
    d.desk.settle = 30.0
    with pytest.raises(OrderOutcomeUnknownError):
        d.send(BUY, "k3")
    with pytest.raises(OrderOutcomeUnknownError, match="may still be in flight"):
        d.send(BUY, "k3")  # not in the account yet, but a terminal may still be executing it: not yet
    record_key = d.journal.record_key(A.login, "k3")
    d.redis.hset(record_key, "sent_at", float(d.redis.hget(record_key, "sent_at") or 0) - 31)  # 31 s later
    sent = d.send(BUY, "k3")
    assert sent["source"] == "sent" and d.sim.calls["order_send"] == 2 and len(d.tagged_deals("k3")) == 1


def test_a_pending_order_found_by_its_tag_after_a_lost_reply(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    tick = d.manager.run(A.login, "symbol_info_tick", "BTCUSD", **creds(A))
    limit = {
        "action": "pending",
        "symbol": "BTCUSD",
        "volume": 0.01,
        "type": "buy_limit",
        "price": round(tick.bid * 0.98, 2),
    }
    d.sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)
    with pytest.raises(OrderOutcomeUnknownError):
        d.send(limit, "k4")
    found = d.send(limit, "k4")
    assert found["source"] == "reconciled" and found["retcode"] == c.TRADE_RETCODE_PLACED and found["order"] > 0
    assert d.sim.calls["order_send"] == 1


def test_an_untagged_lookalike_stops_the_resend(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    with d.manager.acquire(A.login, **creds(A)) as call:  # a trade of the same shape whose comment is not a tag
        call("order_send", prepare(A.login, BUY, "other").request | {"comment": "rewritten"})
    intent = prepare(A.login, BUY, "k5")
    # An attempt that ended without knowing whether its order left: the next attempt must reconcile first.
    dead = Attempt("w9@test", "inc-9", "t-dead", "token-9")
    assert d.journal.claim(A.login, "k5", intent.fingerprint, dead) == "claimed"
    assert d.journal.unknown(A.login, "k5", dead)
    with pytest.raises(OrderOutcomeUnknownError, match="untagged"):
        d.send(BUY, "k5", task="t-new")
    assert d.sim.calls["order_send"] == 1  # the lookalike's own


def test_algo_trading_switched_off_by_a_login_switch_is_named_and_frees_the_key(
    make_desk: Callable[..., Desk],
) -> None:
    d = make_desk(disable_algo_on_switch=True)
    d.manager.login(B.login, **creds(B))
    with pytest.raises(TradingDisabledError, match="Disable automated trading when the account has been changed"):
        d.send(BUY, "k6")  # the switch from B to A turned Algo Trading off
    assert d.journal.read(A.login, "k6") is None and d.sim.calls["order_send"] == 0
    d.sim.enable_algo_trading()
    assert d.send(BUY, "k6")["retcode"] == c.TRADE_RETCODE_DONE


def test_an_account_that_may_not_trade_is_refused_before_sending(make_desk: Callable[..., Desk]) -> None:
    locked = A.model_copy(update={"trade_allowed": False})
    d = make_desk(accounts=[locked])
    with pytest.raises(TradingDisabledError, match="does not allow trading"):
        d.send(BUY, "k7", account=locked)
    assert d.sim.calls["order_send"] == 0 and d.journal.read(A.login, "k7") is None


def test_another_live_workers_order_is_not_touched(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    intent = prepare(A.login, BUY, "k8")
    other = Attempt("w2@test", "inc-2", "t-other", "token-2")  # within its lease, its process not replaced
    assert d.journal.claim(A.login, "k8", intent.fingerprint, other) == "claimed"
    with pytest.raises(OrderOutcomeUnknownError, match="another attempt"):
        d.send(BUY, "k8")
    assert d.sim.calls["order_send"] == 0


def test_without_redis_nothing_is_sent(private_redis_server: Any) -> None:
    sim = simulator()
    d = Desk(private_redis_server.url, sim)
    private_redis_server.stop()
    with pytest.raises(TransientMT5Error, match="nothing sent"):
        d.send(BUY, "k9")
    assert sim.calls["order_send"] == 0


def test_sltp_already_in_place_is_reported_done_without_resending(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    opened = d.send(BUY, "k10")
    position = d.manager.run(A.login, "positions_get", **creds(A), ticket=opened["order"])[0]
    sltp = {"action": "sltp", "position": position.ticket, "sl": round(position.price_open * 0.99, 2)}
    d.sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)
    with pytest.raises(OrderOutcomeUnknownError):
        d.send(sltp, "k11")
    assert d.send(sltp, "k11")["comment"] == "state reached"
    assert d.sim.calls["order_send"] == 2


def test_a_reconciliation_that_fails_keeps_the_key_for_the_next_one(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    d.sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)  # executed, the reply lost
    with pytest.raises(OrderOutcomeUnknownError):
        d.send(BUY, "k12")
    d.sim.inject_fault("history_deals_get", fail_first=1, code=-10004)  # the retry cannot read the account
    with pytest.raises(TransientMT5Error, match="No IPC connection"):
        d.send(BUY, "k12")
    record = d.journal.read(A.login, "k12")
    assert record is not None and record.state == "unknown"  # not released: the order may have executed
    found = d.send(BUY, "k12")
    assert found["source"] == "reconciled" and d.sim.calls["order_send"] == 1 and len(d.tagged_deals("k12")) == 1


@pytest.mark.parametrize("zone_hours", [-14, 0, 13])
def test_a_lost_reply_is_found_whatever_the_trade_servers_clock_says(
    make_desk: Callable[..., Desk], zone_hours: int
) -> None:
    """The trade server's clock is not this machine's: a time zone, and here days apart (the simulated servers run
    on the suite's pinned clock). Reconciliation searches the history in the server's time, read off its ticks,
    for an order with a symbol and for a close-by, which names positions only."""
    d = make_desk(clock=lambda: simulated_now() + zone_hours * 3600)
    assert abs(time.time() - simulated_now()) > 86_400  # the search window could not be this machine's clock
    d.sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)
    with pytest.raises(OrderOutcomeUnknownError):
        d.send(BUY, "k-zone")
    assert d.send(BUY, "k-zone")["source"] == "reconciled" and d.sim.calls["order_send"] == 1
    buy, sell = d.send(BUY, "k-zone-buy")["order"], d.send(BUY | {"type": "sell"}, "k-zone-sell")["order"]
    d.sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)
    close_by = {"action": "close_by", "position": buy, "position_by": sell}
    with pytest.raises(OrderOutcomeUnknownError):
        d.send(close_by, "k-zone-close-by")
    sends = d.sim.calls["order_send"]
    assert d.send(close_by, "k-zone-close-by")["source"] == "reconciled" and d.sim.calls["order_send"] == sends
