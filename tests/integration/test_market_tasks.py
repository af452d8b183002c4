"""The market-data tasks on a real worker: through both clients and a plain send_task, validated, redacted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mt5_worker import AsyncMT5Client, InvalidRequestError, MT5Client
from mt5_worker.client import to_frame
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.terminal.arrays import RATES_DTYPE, TICKS_DTYPE
from tests.celery_fixtures import Stack

pytestmark = [
    pytest.mark.market_hours,  # reads the market or trades: see docs/testing.md#time
    pytest.mark.xdist_group(__name__),  # one shared worker per backend (shared_stack)
]

A, B = DEMO_ACCOUNTS[:2]


def secret(login: int) -> str:
    return next(a.password.get_secret_value() for a in DEMO_ACCOUNTS if a.login == login)


def test_every_market_task_answers_json_through_the_threaded_client(shared_stack: Stack) -> None:
    worker = shared_stack.workers[0]
    since = worker.log_size()
    client = MT5Client(app=shared_stack.app, settings=shared_stack.settings())
    account: dict[str, Any] = {"password": secret(A.login), "server": A.server}
    names = [s["name"] for s in client.symbols(A.login, "*USD*,!*JPY*", **account)]
    assert "EURUSD" in names and "USDJPY" not in names
    assert "EURUSD" == client.symbol_info(A.login, "EURUSD")["name"]  # pooled now: no password needed
    tick = client.symbol_tick(A.login, "EURUSD")
    assert tick["ask"] >= tick["bid"] > 0
    bars = client.rates(A.login, "EURUSD", "M5", start_pos=0, count=10)
    assert list(RATES_DTYPE.names or ()) == list(bars) and 10 == len(bars["close"])
    again = client.rates(A.login, "EURUSD", "M5", date_from=bars["time"][0], date_to=bars["time"][-1])
    assert bars == again
    ticks = client.ticks(A.login, "EURUSD", bars["time"][0], count=5, flags="info")
    assert list(TICKS_DTYPE.names or ()) == list(ticks)
    book = client.market_book(A.login, "EURUSD")
    assert book and book[0]["price"] > 0
    assert 10 == len(to_frame(bars))
    with pytest.raises(InvalidRequestError, match="invalid timeframe"):
        client.rates(A.login, "EURUSD", "M7", start_pos=0, count=10)
    assert [] == worker.sdk_calls("copy_rates_from_pos", since=since, ok=False)  # refused before the terminal
    assert secret(A.login) not in shared_stack.logs()
    client.close()


def test_a_plain_celery_client_sends_the_sdk_parameter_names(shared_stack: Stack) -> None:
    kwargs = {"login": B.login, "password": secret(B.login), "server": B.server, "symbol": "XAUUSD",
              "timeframe": "H1", "date_from": "2026-11-02T08:00:00Z", "count": 3}  # fmt: skip
    bars = shared_stack.call("mt5.rates", queue="celery", **kwargs)
    assert [1793599200, 1793602800, 1793606400] == bars["time"]  # the SDK counts back from date_from


def test_async_client_market_reads_for_several_accounts_at_once(shared_stack: Stack, tmp_path: Path) -> None:

    async def main() -> list[tuple[int, str]]:
        async with AsyncMT5Client(shared_stack.settings()) as client:
            for a in DEMO_ACCOUNTS[:4]:
                await client.login(a.login, secret(a.login), a.server)
            jobs = [client.symbol_info(a.login, sym) for a in DEMO_ACCOUNTS[:4] for sym in ("EURUSD", "BTCUSD")]
            infos = await asyncio.gather(*jobs)
            return [(a.login, i["name"]) for a, i in zip([a for a in DEMO_ACCOUNTS[:4] for _ in (1, 2)], infos,
                                                             strict=True)]  # fmt: skip

    pairs = asyncio.run(main())
    assert ["EURUSD", "BTCUSD"] * 4 == [name for _, name in pairs]
