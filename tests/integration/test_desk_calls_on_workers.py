"""The desk's calls on real workers: ``mt5.close_position``, ``mt5.close_positions``, ``mt5.modify_position`` and
``mt5.cancel_order`` through MT5Client, AsyncMT5Client and a plain Celery client (by name, JSON only), each executed
at most once per key, also when the worker is SIGKILLed with the call in flight and the caller sends it again; and
their outcomes, like ``order_send``'s, on the account's trade events stream, which both clients' ``stream_trades``
read and resume with ``since``."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from celery import Celery

from mt5_worker import AsyncMT5Client
from mt5_worker.cli.devstack import wait_for
from mt5_worker.fleet.order_journal import OrderJournal
from mt5_worker.manager.order_intents import tag_of
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.simulator.trade_store import TradeStore
from mt5_worker.terminal import constants as c
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.market_hours  # trades: see docs/testing.md#time

A = DEMO_ACCOUNTS[0]
CREDS = {"password": A.password.get_secret_value(), "server": A.server}
BUY = {"action": "deal", "symbol": "BTCUSD", "volume": 0.03, "type": "buy", "type_filling": "ioc"}
TRADING: dict[str, Any] = {"MT5_TRADING_ENABLED": True, "MT5_TRADING_SETTLE": 1}


def key(name: str) -> str:
    return f"{name}-{uuid.uuid4()}"


def executions(stack: Stack, idempotency_key: str) -> int:
    store = TradeStore(stack.log_dir / "trade-servers.sqlite3")
    try:
        return store.executions_by_comment(A.server, A.login)[tag_of(A.login, idempotency_key)]
    finally:
        store.close()


def test_the_desk_calls_through_every_client_once_per_key(simulator_stack: Stack) -> None:
    worker = simulator_stack.worker(**TRADING)
    client = simulator_stack.client
    opened = [client.order_send(A.login, BUY, key("open"), **CREDS)["order"] for _ in range(4)]
    sends = len(worker.sdk_calls("order_send"))

    k = key("part")
    part = client.close_position(A.login, opened[0], k, volume=0.01)
    assert part["retcode"] == c.TRADE_RETCODE_DONE and part["volume"] == 0.01 and part["idempotency_key"] == k
    assert client.close_position(A.login, opened[0], k, volume=0.01)["source"] == "recorded"
    assert client.positions(A.login, ticket=opened[0])[0]["volume"] == 0.02

    price = client.positions(A.login, ticket=opened[1])[0]["price_open"]
    stops = (round(price * 0.8, 2), round(price * 1.2, 2))
    ks = key("stops")
    assert client.modify_position(A.login, opened[1], *stops, ks)["retcode"] == c.TRADE_RETCODE_DONE
    assert client.modify_position(A.login, opened[1], *stops, ks)["source"] == "recorded"
    assert (lambda p: (p["sl"], p["tp"]))(client.positions(A.login, ticket=opened[1])[0]) == stops

    tick = client.symbol_tick(A.login, "BTCUSD")
    limit = {"action": "pending", "symbol": "BTCUSD", "volume": 0.01, "type": "buy_limit",
             "price": round(tick["ask"] * 0.8, 2)}  # fmt: skip
    order = client.order_send(A.login, limit, key("limit"))["order"]
    kc = key("cancel")
    assert client.cancel_order(A.login, order, kc)["retcode"] == c.TRADE_RETCODE_DONE
    assert client.cancel_order(A.login, order, kc)["source"] == "recorded"
    assert not client.orders(A.login, ticket=order)

    async def in_async_code() -> tuple[dict[str, Any], dict[str, Any]]:
        async with AsyncMT5Client(settings=simulator_stack.settings()) as aclient:
            ka = key("async")
            closed = await aclient.close_position(A.login, opened[2], ka)
            return closed, await aclient.close_position(A.login, opened[2], ka)

    closed, again = asyncio.run(in_async_code())
    assert (closed["source"], again["source"], again["deal"]) == ("sent", "recorded", closed["deal"])

    plain = Celery(broker=simulator_stack.redis_url, backend=simulator_stack.redis_url)  # another codebase
    kb = key("flat")
    batch = plain.send_task("mt5.close_positions", kwargs={"login": A.login, "idempotency_key": kb,
                            "symbol": "BTCUSD"}, queue="mt5").get(timeout=60)  # fmt: skip
    assert opened[3] in batch["positions"] and opened[0] in batch["positions"]
    assert all(r["retcode"] == c.TRADE_RETCODE_DONE for r in batch["results"])
    assert [r["idempotency_key"] for r in batch["results"]] == [f"{kb}/{t}" for t in batch["positions"]]
    repeat = plain.send_task("mt5.close_positions", kwargs={"login": A.login, "idempotency_key": kb,
                             "symbol": "BTCUSD"}, queue="mt5").get(timeout=60)  # fmt: skip
    assert repeat["positions"] == batch["positions"] and {r["source"] for r in repeat["results"]} == {"recorded"}
    plain.close()
    assert not client.positions(A.login, symbol="BTCUSD") or all(
        p["ticket"] not in opened for p in client.positions(A.login, symbol="BTCUSD")
    )
    calls = len(worker.sdk_calls("order_send")) - sends
    assert calls == 5 + len(batch["positions"])  # part, stops, the limit, its cancel, async close, the batch's
    assert A.password.get_secret_value() not in simulator_stack.logs()


CALLS: dict[str, Callable[[int, str], tuple[str, dict[str, Any]]]] = {
    "close_position": lambda t, k: ("mt5.close_position", {"ticket": t, "idempotency_key": k}),
    "close_positions": lambda t, k: ("mt5.close_positions", {"idempotency_key": k, "magic": 4242}),
    "modify_position": lambda t, k: (
        "mt5.modify_position",
        {"ticket": t, "sl": 1.0, "tp": 0.0, "idempotency_key": k},
    ),
    "cancel_order": lambda t, k: ("mt5.cancel_order", {"ticket": t, "idempotency_key": k}),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_a_desk_call_resubmitted_after_a_sigkill_executes_once(simulator_stack: Stack, call: str) -> None:
    """The worker holds the call inside ``order_send`` (the simulator sleeps before its server executes it) and is
    SIGKILLed; it restarts under the same name and the caller sends the same call with the same key again."""
    worker = simulator_stack.worker(**TRADING, MT5_SIMULATOR_LATENCY={"order_send": 1.5})
    simulator_stack.wait_serving([worker])
    client = simulator_stack.client
    request = BUY | {"magic": 4242}
    ticket = client.order_send(A.login, request, key("open"), **CREDS, timeout=30)["order"]
    if call == "cancel_order":
        tick = client.symbol_tick(A.login, "BTCUSD")
        limit = {"action": "pending", "symbol": "BTCUSD", "volume": 0.01, "type": "buy_limit",
                 "price": round(tick["ask"] * 0.8, 2)}  # fmt: skip
        ticket = client.order_send(A.login, limit, key("limit"), timeout=30)["order"]
    k = key(call)
    name, kwargs = CALLS[call](ticket, k)
    kwargs = {"login": A.login, **kwargs, **CREDS}
    child = f"{k}/{ticket}" if call == "close_positions" else k
    r = redis.Redis.from_url(simulator_stack.redis_url, decode_responses=True)
    journal = OrderJournal(r, ttl=60, lease=60)
    first = simulator_stack.app.send_task(name, kwargs=kwargs, queue=worker.queue)
    wait_for(lambda: (rec := journal.read(A.login, child)) is not None and rec.state == "pending", 30, "the claim")
    time.sleep(0.3)  # inside order_send now
    worker.kill()
    with contextlib.suppress(Exception):
        first.forget()
    worker.start()
    simulator_stack.wait_serving([worker])
    answer = simulator_stack.app.send_task(name, kwargs=kwargs, queue=worker.queue).get(timeout=60)
    result = answer["results"][0] if call == "close_positions" else answer
    assert result["retcode"] == c.TRADE_RETCODE_DONE, answer
    assert executions(simulator_stack, child) == 1
    again = simulator_stack.app.send_task(name, kwargs=kwargs, queue=worker.queue).get(timeout=60)
    assert (again["results"][0] if call == "close_positions" else again)["source"] == "recorded"
    assert executions(simulator_stack, child) == 1


def test_stream_trades_reads_each_outcome_once_and_resumes_with_since(simulator_stack: Stack) -> None:
    simulator_stack.worker(**TRADING)
    client = simulator_stack.client
    seconds, micros = redis.Redis.from_url(simulator_stack.redis_url).time()
    since = seconds * 1000 + micros // 1000 - 1000  # the stream's clock is Redis's, whatever this process's says
    keys = [key("s") for _ in range(4)]
    answers = [client.order_send(A.login, BUY, k, **CREDS) for k in keys]
    client.order_send(A.login, BUY, keys[0])  # answered again from the record: not a new event
    answers.append(client.close_position(A.login, answers[0]["order"], key("close")))

    def read(stream: Any, count: int) -> list[dict[str, Any]]:
        got = []
        for event in stream:
            got.append(event)
            if len(got) == count:
                break
        stream.close()
        return got

    events = read(client.stream_trades(A.login, since=since), 5)
    assert [e["idempotency_key"] for e in events] == [a["idempotency_key"] for a in answers]
    assert [(e["deal"], e["source"], e["symbol"]) for e in events] == [(a["deal"], "sent", "BTCUSD") for a in answers]
    rest = read(client.stream_trades(A.login, since=events[1]["id"]), 3)
    assert [e["id"] for e in rest] == [e["id"] for e in events[2:]]  # exactly after the entry given

    async def in_async_code() -> list[dict[str, Any]]:
        async with AsyncMT5Client(settings=simulator_stack.settings()) as aclient:
            got = []
            stream = aclient.stream_trades(A.login, since=events[2]["id"])
            async for event in stream:
                got.append(event)
                if len(got) == 2:
                    break
            await stream.aclose()
            return got

    assert [e["id"] for e in asyncio.run(in_async_code())] == [e["id"] for e in events[3:]]
