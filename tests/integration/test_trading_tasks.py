"""The trading tasks on real workers: off unless MT5_TRADING_ENABLED, one execution per key through every client
(MT5Client, AsyncMT5Client, a plain Celery client), the outcome readable afterwards, audit lines without
passwords."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from celery import Celery

from mt5_worker import AsyncMT5Client, IdempotencyConflictError, InvalidRequestError, TradingDisabledError
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.terminal import constants as c
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

A = DEMO_ACCOUNTS[0]
PASSWORD = A.password.get_secret_value()
BUY = {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy", "type_filling": "ioc"}


def key() -> str:
    return f"test-{uuid.uuid4()}"


def test_trading_is_off_by_default_and_touches_nothing(simulator_stack: Stack) -> None:
    worker = simulator_stack.worker()
    client = simulator_stack.client
    with pytest.raises(TradingDisabledError, match="MT5_TRADING_ENABLED=true"):
        client.order_send(A.login, BUY, key(), password=PASSWORD, server=A.server)
    with pytest.raises(TradingDisabledError, match="MT5_TRADING_ENABLED=true"):
        client.order_result(A.login, "any")
    assert client.order_check(A.login, BUY, password=PASSWORD, server=A.server)["retcode"] == 0  # the dry run works
    assert not simulator_stack.r.keys("mt5:order:*")
    assert not worker.sdk_calls("order_send")


def test_an_order_executes_once_per_key_through_every_client(simulator_stack: Stack) -> None:
    worker = simulator_stack.worker(MT5_TRADING_ENABLED=True)
    client = simulator_stack.client
    k = key()
    first = client.order_send(A.login, BUY | {"comment": "desk-7"}, k, password=PASSWORD, server=A.server)
    assert first["retcode"] == c.TRADE_RETCODE_DONE and first["source"] == "sent" and first["idempotency_key"] == k
    again = client.order_send(A.login, BUY | {"comment": "desk-7"}, k)
    assert again["source"] == "recorded" and again["deal"] == first["deal"]
    with pytest.raises(IdempotencyConflictError):
        client.order_send(A.login, BUY, k)
    with pytest.raises(InvalidRequestError, match="type_filling"):
        client.order_send(A.login, BUY | {"type_filling": "all"}, key())

    # A client in another codebase: the task by name, JSON only.
    plain = Celery(broker=simulator_stack.redis_url, backend=simulator_stack.redis_url)
    third = plain.send_task("mt5.order_send", kwargs={"login": A.login, "request": BUY, "idempotency_key": k + "-p"},
                            queue="mt5").get(timeout=30)  # fmt: skip
    assert third["retcode"] == c.TRADE_RETCODE_DONE and third["source"] == "sent"
    assert plain.send_task("mt5.order_send", kwargs={"login": A.login, "request": BUY, "idempotency_key": k + "-p"},
                           queue="mt5").get(timeout=30)["deal"] == third["deal"]  # fmt: skip
    plain.close()

    async def in_async_code() -> dict[str, Any]:
        async with AsyncMT5Client(settings=simulator_stack.settings()) as aclient:
            sent: dict[str, Any] = await aclient.order_send(A.login, BUY, k + "-a")
            assert (await aclient.order_send(A.login, BUY, k + "-a"))["source"] == "recorded"
            return sent

    assert asyncio.run(in_async_code())["source"] == "sent"

    assert len(worker.sdk_calls("order_send")) == 3  # one per key, whatever the number of submissions
    positions = client.positions(A.login, symbol="BTCUSD")
    assert sum(p["comment"].endswith("desk-7") and p["comment"].startswith("#") for p in positions) == 1
    status = client.order_result(A.login, k)
    assert status["state"] == "done" and status["result"]["deal"] == first["deal"]
    assert client.order_result(A.login, "never-sent")["state"] == "none"

    requests = worker.events("mt5.trade.request", idempotency_key=k)
    outcomes = worker.events("mt5.trade.outcome", idempotency_key=k)
    assert len(requests) == 3  # one line per request, one per outcome (the conflict's refusal too)
    assert [o.get("source") or o["outcome"] for o in outcomes] == ["sent", "recorded", "refused"]
    assert outcomes[0]["retcode"] == c.TRADE_RETCODE_DONE and outcomes[0]["ticket"] == first["order"]
    assert PASSWORD not in simulator_stack.logs()
    for name in simulator_stack.r.keys("mt5:order:*"):
        assert PASSWORD not in str(simulator_stack.r.hgetall(name))
