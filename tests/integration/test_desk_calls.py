"""The desk's calls on a real Redis and the simulated trade server: close a position (or part of it), close many
under one key, move SL/TP, cancel a pending order; each picks the opposite type, the current price and a filling
mode the symbol allows, answers in ``order_send``'s shape, and executes at most once per key, whether the key's
record is there (answered again) or lost (found in the account)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from mt5_worker.errors import IdempotencyConflictError, InvalidRequestError, RecordsLostError
from mt5_worker.fleet.order_desk import OrderDesk
from mt5_worker.fleet.order_journal import OrderJournal
from mt5_worker.manager import MT5ConnectionManager, desk_calls
from mt5_worker.manager.order_intents import prepare
from mt5_worker.manager.trading import Trader
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal import constants as c
from tests.conftest import simulator

pytestmark = pytest.mark.market_hours  # trades: see docs/testing.md#time

A = DEMO_ACCOUNTS[0]
CREDS = {"password": A.password.get_secret_value(), "server": A.server}
SETTLE = 1.5  # MT5_TRADING_SETTLE: long enough that a loaded machine still sees the hold it tests


def buy(symbol: str = "BTCUSD", volume: float = 0.03, **more: Any) -> dict[str, Any]:
    return {"action": "deal", "symbol": symbol, "volume": volume, "type": "buy", "type_filling": "ioc"} | more


class Desk:
    def __init__(self, url: str, sim: SimulatedTerminal) -> None:
        self.sim = sim
        self.manager = MT5ConnectionManager(sim, Settings.load(_env_file=None), sleep=lambda _: None)
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.journal = OrderJournal(self.redis, ttl=3600, lease=60)
        self.desk = OrderDesk(Trader(self.manager), self.journal, "w1@test", settle=SETTLE)

    def send(self, intent: Any, task: str = "t1") -> dict[str, Any]:
        return self.desk.send(intent, task, **CREDS)

    def open(self, key: str, request: dict[str, Any] | None = None) -> int:
        return int(self.send(prepare(A.login, request or buy(), key))["order"])

    def position(self, ticket: int) -> Any:
        found = self.manager.run(A.login, "positions_get", **CREDS, ticket=ticket)
        return found[0] if found else None

    def executions(self, key: str) -> int:
        return self.sim.trade_store.executions_by_comment()[prepare(A.login, buy(), key).tag]

    def lose_records(self) -> None:
        self.redis.flushdb()
        with pytest.raises(RecordsLostError):  # the first claim after the loss notices it (nothing sent)
            self.send(prepare(A.login, buy(), f"notice-{time.monotonic()}"))
        time.sleep(SETTLE + 0.05)


@pytest.fixture
def desk(redis_url: str) -> Iterator[Desk]:
    d = Desk(redis_url, simulator())
    yield d
    d.manager.shutdown()


def test_close_position_sells_a_buy_at_the_bid_and_answers_like_order_send(desk: Desk) -> None:
    ticket = desk.open("open-1")
    closed = desk.send(desk_calls.close_position(A.login, ticket, "close-1"))
    request = closed["request"]
    assert closed["retcode"] == c.TRADE_RETCODE_DONE and closed["source"] == "sent" and closed["deal"] > 0
    assert (request["type"], request["position"], request["symbol"]) == (c.ORDER_TYPE_SELL, ticket, "BTCUSD")
    assert request["type_filling"] == c.ORDER_FILLING_FOK and request["deviation"] == desk_calls.DEFAULT_DEVIATION
    assert closed["price"] == closed["bid"] and closed["volume"] == 0.03 and closed["idempotency_key"] == "close-1"
    assert desk.position(ticket) is None
    again = desk.send(desk_calls.close_position(A.login, ticket, "close-1"), task="t2")
    assert again["source"] == "recorded" and again["deal"] == closed["deal"] and desk.executions("close-1") == 1


def test_a_partial_close_leaves_the_rest_open(desk: Desk) -> None:
    ticket = desk.open("open-2")
    part = desk.send(desk_calls.close_position(A.login, ticket, "part-2", volume=0.01))
    assert part["retcode"] == c.TRADE_RETCODE_DONE and part["volume"] == 0.01
    assert desk.position(ticket).volume == 0.02
    desk.lose_records()
    again = desk.send(desk_calls.close_position(A.login, ticket, "part-2", volume=0.01), task="t2")
    assert again["source"] == "reconciled" and again["deal"] == part["deal"]  # found, not closed a second time
    assert desk.position(ticket).volume == 0.02 and desk.executions("part-2") == 1


def test_a_sell_is_closed_by_a_buy_at_the_ask_with_the_symbols_filling(desk: Desk) -> None:
    ticket = desk.open("open-3", buy("USDJPY", 0.1, type="sell"))  # USDJPY allows IOC only
    closed = desk.send(desk_calls.close_position(A.login, ticket, "close-3"))
    assert closed["retcode"] == c.TRADE_RETCODE_DONE and closed["request"]["type"] == c.ORDER_TYPE_BUY
    assert closed["request"]["type_filling"] == c.ORDER_FILLING_IOC and closed["price"] == closed["ask"]


def test_closing_a_closed_position_sends_nothing_and_an_unknown_one_is_refused(desk: Desk) -> None:
    ticket = desk.open("open-4")
    desk.send(desk_calls.close_position(A.login, ticket, "close-4"))
    sends = desk.sim.calls["order_send"]
    late = desk.send(desk_calls.close_position(A.login, ticket, "close-4-again"))
    assert late["retcode"] == c.TRADE_RETCODE_POSITION_CLOSED and late["request_id"] == 0
    assert late["request"]["symbol"] == "BTCUSD" and desk.sim.calls["order_send"] == sends
    with pytest.raises(InvalidRequestError, match="has no position 424242"):
        desk.send(desk_calls.close_position(A.login, 424242, "close-unknown"))
    assert desk.journal.read(A.login, "close-unknown") is None  # refused before anything: the key is free


def test_one_key_is_one_call(desk: Desk) -> None:
    ticket = desk.open("open-5")
    desk.send(desk_calls.close_position(A.login, ticket, "one-key", volume=0.01))
    with pytest.raises(IdempotencyConflictError):
        desk.send(desk_calls.close_position(A.login, ticket, "one-key", volume=0.02))
    with pytest.raises(IdempotencyConflictError):
        desk.send(desk_calls.modify_position(A.login, ticket, 0.0, 0.0, "one-key"))


def test_modify_position_moves_the_stops_once(desk: Desk) -> None:
    ticket = desk.open("open-6")
    position = desk.position(ticket)
    sl, tp = round(position.price_open * 0.9, 2), round(position.price_open * 1.1, 2)
    done = desk.send(desk_calls.modify_position(A.login, ticket, sl, tp, "stops-6"))
    assert done["retcode"] == c.TRADE_RETCODE_DONE and done["request"]["symbol"] == "BTCUSD"
    assert (desk.position(ticket).sl, desk.position(ticket).tp) == (sl, tp)
    assert desk.send(desk_calls.modify_position(A.login, ticket, sl, tp, "stops-6"), "t2")["source"] == "recorded"
    desk.send(desk_calls.close_position(A.login, ticket, "close-6"))
    closed = desk.send(desk_calls.modify_position(A.login, ticket, sl, tp, "stops-6b"))
    assert closed["retcode"] == c.TRADE_RETCODE_POSITION_CLOSED


def test_cancel_order_removes_a_pending_order_once(desk: Desk) -> None:
    tick = desk.manager.run(A.login, "symbol_info_tick", "BTCUSD", **CREDS)
    limit = {"action": "pending", "symbol": "BTCUSD", "volume": 0.01, "type": "buy_limit",
             "price": round(tick.ask * 0.9, 2)}  # fmt: skip
    order = int(desk.send(prepare(A.login, limit, "place-7"))["order"])
    cancelled = desk.send(desk_calls.cancel_order(A.login, order, "cancel-7"))
    assert cancelled["retcode"] == c.TRADE_RETCODE_DONE and cancelled["order"] == order
    assert not desk.manager.run(A.login, "orders_get", **CREDS, ticket=order)
    desk.lose_records()
    again = desk.send(desk_calls.cancel_order(A.login, order, "cancel-7"), task="t2")
    assert again["retcode"] == c.TRADE_RETCODE_INVALID  # the server: no such pending order; nothing cancelled twice
    history = desk.manager.run(A.login, "history_orders_get", **CREDS, ticket=order)
    assert [o.state for o in history] == [c.ORDER_STATE_CANCELED]


def test_close_positions_closes_a_symbols_positions_each_under_its_own_key(desk: Desk) -> None:
    tickets = [desk.open(f"open-8-{i}") for i in range(3)]
    other = desk.open("open-8-usdjpy", buy("USDJPY", 0.1))
    batch = desk_calls.batch(A.login, "flat-btc", symbol="BTCUSD")
    answer = desk.desk.close_positions(batch, "t1", **CREDS)
    mine = [t for t in answer["positions"] if t in tickets]
    assert mine == tickets and other not in answer["positions"]
    keys = [r["idempotency_key"] for r in answer["results"]]
    assert keys == [f"flat-btc/{t}" for t in answer["positions"]]
    assert all(r["retcode"] == c.TRADE_RETCODE_DONE for r in answer["results"])
    assert all(desk.position(t) is None for t in tickets) and desk.position(other) is not None
    late = desk.open("open-8-late")  # opened after the batch: never closed by it
    again = desk.desk.close_positions(batch, "t2", **CREDS)
    assert again["positions"] == answer["positions"] and {r["source"] for r in again["results"]} == {"recorded"}
    assert desk.position(late) is not None
    with pytest.raises(IdempotencyConflictError):
        desk.desk.close_positions(desk_calls.batch(A.login, "flat-btc", symbol="USDJPY"), "t3", **CREDS)
    assert all(desk.executions(k) == 1 for k in keys)


def test_a_close_found_after_the_records_were_lost_is_reported_with_its_symbol(desk: Desk) -> None:
    ticket = desk.open("open-9")
    closed = desk.send(desk_calls.close_position(A.login, ticket, "close-9"))
    desk.lose_records()
    found = desk.send(desk_calls.close_position(A.login, ticket, "close-9"), task="t2")
    assert found["source"] == "reconciled" and found["deal"] == closed["deal"]
    assert found["request"]["symbol"] == "BTCUSD" and desk.executions("close-9") == 1
