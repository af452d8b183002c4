"""The trade server is the record, Redis the fast path: a key whose record Redis lost (a restart without persistence,
a FLUSHALL) is found in the account before it could be sent again; a process that saw the records vanish sends no
fresh key until an order sent before the loss would show; and every recorded outcome is announced once on the
account's trade events stream, in the step that records it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from mt5_worker.errors import OrderOutcomeUnknownError, RecordsLostError
from mt5_worker.fleet.order_desk import OrderDesk
from mt5_worker.fleet.order_journal import OrderJournal, TradeEvents
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager.order_intents import prepare
from mt5_worker.manager.trading import Trader
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.streams.codec import trade_fields, trade_from
from mt5_worker.streams.keys import HORIZON_KEY, trades_key
from mt5_worker.terminal import constants as c
from tests.conftest import simulator

pytestmark = pytest.mark.market_hours  # trades: see docs/testing.md#time

A = DEMO_ACCOUNTS[0]
BUY = {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy", "type_filling": "ioc"}
CREDS = {"password": A.password.get_secret_value(), "server": A.server}


class Desk:
    """A desk (one simulated terminal, the trade events on) on a real Redis, and what a test reads of both."""

    def __init__(self, url: str, sim: SimulatedTerminal, *, presend_window: float | None = 3600.0,
                 settle: float = 0.3, worker: str = "w1@test") -> None:  # fmt: skip
        self.sim = sim
        self.manager = MT5ConnectionManager(sim, Settings.load(_env_file=None), sleep=lambda _: None)
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        events = TradeEvents(trades_key, HORIZON_KEY, trade_fields)
        self.journal = OrderJournal(self.redis, ttl=3600, lease=60, events=events)
        self.desk = OrderDesk(Trader(self.manager), self.journal, worker, settle=settle, presend_window=presend_window)

    def send(self, request: dict[str, Any], key: str, task: str = "t1") -> dict[str, Any]:
        return self.desk.send(prepare(A.login, request, key), task, **CREDS)

    def executions(self, key: str) -> int:
        return self.sim.trade_store.executions_by_comment()[prepare(A.login, BUY, key).tag]

    def events(self) -> list[dict[str, Any]]:
        return [trade_from(fields, entry_id) for entry_id, fields in self.redis.xrange(trades_key(A.login))]


@pytest.fixture
def make_desk(redis_url: str) -> Iterator[Callable[..., Desk]]:
    made: list[Desk] = []

    def make(sim: SimulatedTerminal | None = None, **options: Any) -> Desk:
        made.append(Desk(redis_url, sim or simulator(), **options))
        return made[-1]

    yield make
    for d in made:
        d.manager.shutdown()


def test_a_key_sent_again_after_redis_lost_its_records_is_found_in_the_account(
    make_desk: Callable[..., Desk],
) -> None:
    d = make_desk()
    keys = [f"lost-{i}" for i in range(5)]
    first = {key: d.send(BUY, key) for key in keys}
    d.redis.flushdb()  # the records are gone: Redis restarted without persistence, or a failover lost them
    again = {key: d.send(BUY, key, task="t2") for key in keys}
    for key in keys:
        assert again[key]["source"] == "reconciled" and again[key]["retcode"] == c.TRADE_RETCODE_DONE
        assert again[key]["deal"] == first[key]["deal"] and again[key]["order"] == first[key]["order"]
        assert d.executions(key) == 1
    assert d.sim.calls["order_send"] == len(keys)
    assert {k: d.send(BUY, k, task="t3")["source"] for k in keys} == dict.fromkeys(keys, "recorded")  # recorded again


def test_without_the_search_a_key_whose_record_was_lost_is_sent_again(make_desk: Callable[..., Desk]) -> None:
    """The documented risk of MT5_TRADING_PRESEND_SEARCH=false, shown: two executions of one key."""
    d = make_desk(presend_window=None, settle=2.0)
    d.send(BUY, "risk")
    d.redis.flushdb()
    with pytest.raises(RecordsLostError):
        d.send(BUY, "risk", task="t2")
    time.sleep(2.05)  # past the settle time after the loss: only the search could have told
    assert d.send(BUY, "risk", task="t2")["source"] == "sent"
    assert d.executions("risk") == 2


def test_a_fresh_key_is_not_held_back_by_the_accounts_other_trades(make_desk: Callable[..., Desk]) -> None:
    """The search looks for the key's own tag: an untagged trade of the same shape (a manual one) is no reason not to
    send a new key (it is one only when reconciling a key whose attempt failed)."""
    d = make_desk()
    with d.manager.acquire(A.login, **CREDS) as call:
        call("order_send", prepare(A.login, BUY, "manual").request | {"comment": "by hand"})
    assert d.send(BUY, "fresh")["source"] == "sent" and d.executions("fresh") == 1


def test_a_process_that_saw_the_records_vanish_holds_fresh_sends_for_the_settle_time(
    make_desk: Callable[..., Desk],
) -> None:
    """An order that left just before Redis lost its record may not be in the account yet when the same key comes
    back on another terminal: the other process's search cannot find it, so it must wait, not send."""
    sim = simulator()
    sender, other = make_desk(sim), make_desk(sim, settle=3.0, worker="w2@test")
    other.send(BUY, "before")  # the other process has seen this Redis's records (its epoch)
    in_flight = threading.Event()

    def lose_records_while_in_flight() -> None:
        sender.redis.flushdb()  # the order is confirmed and about to leave: its record vanishes now
        in_flight.set()
        with pytest.raises(RecordsLostError, match="lost the order records"):  # the same key, sent again elsewhere
            other.send(BUY, "racing", task="t2")

    original = sender.desk._confirm
    sender.desk._confirm = lambda *a: (original(*a), lose_records_while_in_flight())[0]  # type: ignore[method-assign]
    assert sender.send(BUY, "racing")["source"] == "sent" and in_flight.is_set()
    sender.desk._confirm = original  # type: ignore[method-assign]
    assert sender.executions("racing") == 1
    assert other.journal.read(A.login, "racing") is not None  # the sender's outcome, recorded after the loss
    assert other.send(BUY, "racing", task="t3")["source"] == "recorded" and sender.executions("racing") == 1


def test_after_the_settle_time_a_fresh_key_is_sent(make_desk: Callable[..., Desk]) -> None:
    d = make_desk(settle=2.0)
    d.send(BUY, "seen")
    d.redis.flushdb()
    with pytest.raises(RecordsLostError):
        d.send(BUY, "new-after-loss")
    assert d.journal.read(A.login, "new-after-loss") is None  # nothing sent: the key is free again
    time.sleep(2.05)
    assert d.send(BUY, "new-after-loss")["source"] == "sent" and d.executions("new-after-loss") == 1


def test_every_recorded_outcome_is_announced_once(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    sent = d.send(BUY, "e1")
    d.send(BUY, "e1", task="t2")  # answered again from the record: not a new outcome
    refused = d.send(BUY | {"volume": 0.015}, "e2")  # a refusal is an outcome too
    d.sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)
    with pytest.raises(OrderOutcomeUnknownError):
        d.send(BUY, "e3")  # no outcome yet: nothing announced
    found = d.send(BUY, "e3")  # reconciled: its outcome, announced once
    events = d.events()
    assert [(e["idempotency_key"], e["source"]) for e in events] == [("e1", "sent"), ("e2", "sent"),
                                                                       ("e3", "reconciled")]  # fmt: skip
    first = events[0]
    assert first["login"] == A.login and first["symbol"] == "BTCUSD" and first["volume"] == 0.01
    assert (first["retcode"], first["order"], first["deal"], first["price"]) == (
        sent["retcode"], sent["order"], sent["deal"], sent["price"])  # fmt: skip
    assert first["id"].startswith(f"{first['time_msc']}-")  # the entry ID's time is the event's
    assert events[1]["retcode"] == refused["retcode"] and events[2]["deal"] == found["deal"]
    assert A.password.get_secret_value() not in str(d.redis.xrange(trades_key(A.login)))
    assert 3500 < d.redis.ttl(trades_key(A.login)) <= 3600  # kept as long as the records
    assert int(d.redis.hget(HORIZON_KEY, trades_key(A.login)) or 0) < first["time_msc"] - 3_500_000


def test_two_attempts_completing_one_key_announce_it_once(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    intent = prepare(A.login, BUY, "twice")
    outcome = {"retcode": 10009, "deal": 5, "order": 6, "volume": 0.01, "price": 1.0, "request": intent.request,
               "idempotency_key": "twice", "login": A.login, "source": "sent"}  # fmt: skip
    done = [d.journal.complete(A.login, "twice", intent.fingerprint, outcome) for _ in range(3)]
    assert done == [True, False, False] and len(d.events()) == 1


def test_redis_down_while_recording_leaves_the_outcome_to_the_next_attempt(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    complete = d.journal.complete

    def fail(*args: Any, **kwargs: Any) -> bool:
        raise redis.ConnectionError("down")

    d.journal.complete = fail  # type: ignore[method-assign]
    d.send(BUY, "unrecorded")  # answered, but neither recorded nor announced
    d.journal.complete = complete  # type: ignore[method-assign]
    assert d.events() == []
    record = d.journal.read(A.login, "unrecorded")
    assert record is not None and record.state == "pending"
    d.redis.hset(d.journal.record_key(A.login, "unrecorded"), "lease_until", 0)  # its lease ran out
    assert d.send(BUY, "unrecorded", task="t2")["source"] == "reconciled"
    assert [e["idempotency_key"] for e in d.events()] == ["unrecorded"] and d.executions("unrecorded") == 1
