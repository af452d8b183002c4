"""The account tasks on a real worker: each through MT5Client, answers that belong to the account asked for, under
mixed load from four threads, and through the async client."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mt5_worker import AsyncMT5Client, InvalidRequestError, MT5Client
from mt5_worker.cli.devstack import wait_for
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.terminal.records import TradeDeal, TradePosition
from tests.celery_fixtures import Stack

pytestmark = [
    pytest.mark.market_hours,  # reads the market or trades: see docs/testing.md#time
    pytest.mark.xdist_group(__name__),  # one shared worker per backend (shared_stack)
]

A, B = DEMO_ACCOUNTS[:2]
EVER = {"date_from": 0, "date_to": 2**32}


def secret(login: int) -> str:
    return next(a.password.get_secret_value() for a in DEMO_ACCOUNTS if a.login == login)


def owned(login: int, records: list[dict[str, Any]], field: str = "ticket") -> bool:
    """Simulated tickets are the login times 10**6 plus a sequence number (simulator/ledger.py)."""
    return all(r[field] // 10**6 == login for r in records if r[field])


def test_every_account_task_through_the_threaded_client(shared_stack: Stack) -> None:
    client = MT5Client(app=shared_stack.app, settings=shared_stack.settings())
    account: dict[str, Any] = {"password": secret(A.login), "server": A.server}
    positions = client.positions(A.login, **account)
    assert owned(A.login, positions) and all(list(p) == list(TradePosition._fields) for p in positions)
    assert owned(A.login, client.orders(A.login))
    deals = client.history_deals(A.login, **EVER)
    assert deals and owned(A.login, deals) and list(deals[0]) == list(TradeDeal._fields)
    position = next(d["position_id"] for d in deals if d["position_id"])
    assert {d["position_id"] for d in client.history_deals(A.login, position=position)} == {position}
    history = client.history_orders(A.login, group="*,!*JPY*", **EVER)
    assert history and owned(A.login, history) and not any("JPY" in o["symbol"] for o in history)
    assert client.order_calc_margin(A.login, "buy", "USDJPY", 1.0, 150.0) == 100_000 / A.leverage
    assert client.order_calc_profit(A.login, "sell", "US500", 1.0, 5000.0, 4990.0) == 10.0
    check = client.order_check(A.login, {"action": "deal", "symbol": "GBPUSD", "volume": 0.1, "type": "buy"})
    assert check["retcode"] == 0 and check["comment"] == "Done" and check["request"]["symbol"] == "GBPUSD"
    refused = client.order_check(A.login, {"action": "deal", "symbol": "EURUSD", "volume": 0.015, "type": "buy"})
    assert refused["retcode"] == 10014
    with pytest.raises(InvalidRequestError, match="ticket"):
        client.positions(A.login, ticket=-1)
    assert secret(A.login) not in shared_stack.logs()
    client.close()


def test_accounts_never_see_each_others_trading_under_mixed_load(shared_stack: Stack) -> None:
    client = MT5Client(app=shared_stack.app, settings=shared_stack.settings())
    accounts = DEMO_ACCOUNTS[:4]
    for a in accounts:
        client.login(a.login, secret(a.login), a.server)

    def work(i: int) -> list[tuple[int, list[dict[str, Any]]]]:
        out = []
        for j in range(6):
            a = accounts[(i + j) % len(accounts)]
            kind = (i + j) % 3
            if kind == 0:
                out.append((a.login, client.positions(a.login)))
            elif kind == 1:
                out.append((a.login, client.history_deals(a.login, **EVER)))
            else:
                out.append((a.login, client.history_orders(a.login, **EVER)))
            client.symbol_tick(a.login, "EURUSD")  # market reads in between
        return out

    with ThreadPoolExecutor(4) as pool:
        results = [r for batch in pool.map(work, range(4)) for r in batch]
    assert len(results) == 24
    for login, records in results:
        assert owned(login, records)
    client.close()


def test_async_client_account_reads(shared_stack: Stack) -> None:

    async def main() -> list[list[dict[str, Any]]]:
        async with AsyncMT5Client(shared_stack.settings()) as client:
            for a in (A, B):
                await client.login(a.login, secret(a.login), a.server)
            return list(await asyncio.gather(*(client.history_deals(a.login, **EVER) for a in (A, B))))

    deals_a, deals_b = asyncio.run(main())
    assert owned(A.login, deals_a) and owned(B.login, deals_b)
    assert not {d["ticket"] for d in deals_a} & {d["ticket"] for d in deals_b}


def test_a_result_is_whole_for_the_client_and_cut_short_in_the_workers_log(shared_stack: Stack) -> None:
    worker = shared_stack.workers[0]
    offset = worker.log_size()
    client = MT5Client(app=shared_stack.app, settings=shared_stack.settings())
    info = client.account_info(A.login, A.server, secret(A.login))
    client.close()
    assert 28 == len(info) and A.login == info["login"]

    def success_line() -> str | None:
        lines = worker.log_text(since=offset).splitlines()
        return next((x for x in lines if "mt5.account_info[" in x and " succeeded in " in x), None)

    line = wait_for(success_line, 10, "the worker's success line")  # written just after the result is stored
    shown = line.split("s: ", 1)[1]  # "... Task mt5.account_info[id] succeeded in 0.01s: {'login': ...}"
    assert shown.startswith(f"{{'login': {A.login}, ") and "...'" in shown
    assert len(shown) < 128 + 20 < len(repr(info))  # MT5_RESULT_REPR_MAXSIZE's default, and saferepr's closing
