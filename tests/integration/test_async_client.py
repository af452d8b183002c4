"""AsyncMT5Client against real workers and Redis: results, typed errors, timeouts, cancellation, no thread growth."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest
import redis

from harness.accounts import write_accounts
from mt5_worker import AsyncMT5Client, AuthorizationError
from mt5_worker.cli.devstack import RedisServer
from mt5_worker.client.results import KEY_PREFIX
from mt5_worker.simulator.specs import AccountSpec
from tests.celery_fixtures import Stack
from tests.conftest import make_accounts

pytestmark = pytest.mark.timeout(180)


def secret(account: AccountSpec) -> str:
    return account.password.get_secret_value()


@pytest.fixture
def stack(simulator_stack: Stack) -> Stack:  # one backend is enough here: the client is what is tested
    return simulator_stack


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_500_concurrent_awaits_over_10_accounts_each_get_their_own_account_and_no_thread_per_request(
    stack: Stack, tmp_path: Path
) -> None:
    accounts = make_accounts(10)
    stack.worker("w1", MT5_SIMULATOR_ACCOUNTS=write_accounts(tmp_path / "accounts.json", accounts))

    async def main() -> tuple[list[tuple[int, int]], int, int, int]:
        async with AsyncMT5Client(stack.settings()) as client:
            await client.health()  # warm: publisher thread, connections
            threads_before = threading.active_count()
            picks = [accounts[i % 10] for i in range(500)]
            tasks = [asyncio.ensure_future(client.account_info(a.login, a.server, secret(a))) for a in picks]
            peak_pending, threads_during = 0, 0
            while not all(t.done() for t in tasks):
                peak_pending = max(peak_pending, client.pending())
                threads_during = max(threads_during, threading.active_count())
                await asyncio.sleep(0.01)
            results = await asyncio.gather(*tasks)
            pairs = [(a.login, r["login"]) for a, r in zip(picks, results, strict=True)]
            return pairs, threads_before, threads_during, peak_pending

    pairs, before, during, peak = run(main())  # type: ignore[misc]
    assert 500 == len(pairs)
    assert all(asked == got for asked, got in pairs)
    assert peak >= 100, "the requests were not pending at the same time: the test proves nothing"
    assert during <= before, f"threads grew from {before} to {during} with {peak} pending requests"


def test_answered_requests_do_not_count_as_the_terminals_backlog(stack: Stack) -> None:
    from mt5_worker.simulator import DEMO_ACCOUNTS

    demo = DEMO_ACCOUNTS[0]
    stack.worker("w1")

    async def main() -> int:
        # One reading of the registry for the whole test: its load report says idle, with no rate to drain by.
        async with AsyncMT5Client(stack.settings(routing_cache_seconds=600)) as client:
            for _ in range(30):
                assert demo.login == (await client.account_info(demo.login, demo.server, secret(demo)))["login"]
            await client.health()  # after the answers on the publisher thread: they have reached the router
            return client._publisher.router.backlogs()["w1@test"]

    # Each of the 30 sends was answered before the next: none waits. Untold of answers, the router would count ~30.
    assert run(main()) <= 1  # the report it read may have counted a request running then


def test_login_health_pool_stats_and_typed_errors(stack: Stack) -> None:
    stack.worker("w1")
    a = make_accounts(1, server="MetaQuotes-Demo")[0]  # not a demo account: unknown to the simulator
    from mt5_worker.simulator import DEMO_ACCOUNTS

    demo = DEMO_ACCOUNTS[0]

    async def main() -> None:
        async with AsyncMT5Client(stack.settings()) as client:
            assert demo.login == (await client.login(demo.login, secret(demo), demo.server))["login"]
            assert demo.login == (await client.account_info(demo.login))["login"]  # pooled: no password
            assert (await client.health())["initialized"] is True
            stats = await client.pool_stats("w1@test")
            assert ("w1@test", [demo.login]) == (stats["worker_id"], [s["login"] for s in stats["pool"]])
            assert ["w1@test"] == await client.workers()
            with pytest.raises(AuthorizationError) as caught:
                await client.login(demo.login, "Wrong-Pass-123", demo.server)
            assert -6 == caught.value.code
            assert "Wrong-Pass-123" not in repr(caught.value.args)
            with pytest.raises(AuthorizationError):
                await client.account_info(a.login, a.server, secret(a))

    run(main())


def test_a_timeout_raises_timeout_error_on_time_and_leaves_no_subscription(stack: Stack) -> None:
    stack.worker("w1", MT5_SIMULATOR_LATENCY={"account_info": 3.0})
    from mt5_worker.simulator import DEMO_ACCOUNTS

    demo = DEMO_ACCOUNTS[0]
    r = redis.Redis.from_url(stack.redis_url)

    async def main() -> tuple[float, str]:
        async with AsyncMT5Client(stack.settings()) as client:
            await client.health()
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await client.account_info(demo.login, demo.server, secret(demo), timeout=1.0)
            elapsed = time.monotonic() - started
            assert 0 == client.pending()
            return elapsed, ""

    elapsed, _ = run(main())  # type: ignore[misc]
    assert 1.0 <= elapsed < 3.0, elapsed  # gave up at its timeout, not when the 3 s answer came
    assert [] == [c for c in r.pubsub_channels() if c.startswith(KEY_PREFIX.encode())]


def test_cancelling_an_await_unsubscribes_and_revokes_the_request(stack: Stack) -> None:
    worker = stack.worker("w1", MT5_SIMULATOR_LATENCY={"account_info": 3.0})
    from mt5_worker.simulator import DEMO_ACCOUNTS

    busy, victim = DEMO_ACCOUNTS[0], DEMO_ACCOUNTS[1]
    r = redis.Redis.from_url(stack.redis_url)

    async def main() -> str:
        async with AsyncMT5Client(stack.settings()) as client:
            first = asyncio.ensure_future(client.account_info(busy.login, busy.server, secret(busy)))
            # The new worker logs in first, then spends 3 s in account_info: the victim is sent and cancelled in
            # them, however slow the machine is to get there.
            started = time.monotonic()
            while not worker.sdk_calls("login", login=busy.login, ok=True):
                assert time.monotonic() - started < 60, "the worker never logged in for the first request"
                await asyncio.sleep(0.02)
            before = set(r.pubsub_channels())
            second = asyncio.ensure_future(client.account_info(victim.login, victim.server, secret(victim)))
            while client.pending() < 2:
                await asyncio.sleep(0.01)
            (victim_channel,) = set(r.pubsub_channels()) - before
            assert 1 == r.pubsub_numsub(victim_channel)[0][1]
            second.cancel()
            with pytest.raises(asyncio.CancelledError):
                await second
            assert busy.login == (await first)["login"]
            return str(victim_channel.decode())

    victim_channel = run(main())
    assert 0 == r.pubsub_numsub(victim_channel)[0][1]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and r.get(victim_channel) is None:
        time.sleep(0.1)
    stored = json.loads(r.get(victim_channel) or b"{}")
    assert "REVOKED" == stored.get("status"), stored
    assert [] == worker.sdk_calls("login", login=victim.login), "the cancelled request still ran"


def test_publishing_to_an_unreachable_broker_does_not_stall_the_loop(private_redis_server: RedisServer) -> None:
    url = private_redis_server.url
    from mt5_worker.settings import Settings

    settings = Settings.load(_env_file=None, redis_url=url, publish_timeout=1.0)
    private_redis_server.stop()

    async def main() -> tuple[int, float]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.ensure_future(ticker())
        async with AsyncMT5Client(settings) as client:
            started = time.monotonic()
            with pytest.raises(Exception, match="unreachable"):
                await client.health(timeout=10)
            elapsed = time.monotonic() - started
        ticking.cancel()
        return ticks, elapsed

    ticks, elapsed = run(main())  # type: ignore[misc]
    assert elapsed < 5, f"the send waited {elapsed:.1f} s, past MT5_PUBLISH_TIMEOUT"
    assert ticks >= elapsed / 0.01 * 0.5, f"the loop ticked {ticks} times in {elapsed:.2f} s: it was blocked"


def test_closing_leaves_no_thread_and_no_connection(stack: Stack) -> None:
    stack.worker("w1")

    async def main() -> tuple[int, int, int]:
        before = open_sockets()
        client = AsyncMT5Client(stack.settings())
        await client.health()
        during = open_sockets()
        assert any(t.name.startswith("mt5-publisher") for t in threading.enumerate())
        await client.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await client.health()
        return before, during, open_sockets()

    before, during, after = run(main())  # type: ignore[misc]
    assert during > before, "the client opened no connection: the test proves nothing"
    assert before == after, f"{after - before} sockets left open"
    assert not any(t.name.startswith("mt5-publisher") for t in threading.enumerate())


def open_sockets() -> int:
    """Sockets this process holds open."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count
