"""Both supported brokers, Redis and RabbitMQ, on real workers: every task through the client, typed errors, and
a redelivered message of a finished task, on each broker; on RabbitMQ also what differs there (a retry waiting in
the broker, the broadcast sweep, a departed worker's queue, what a plain Celery client must declare), which
tests/integration/test_tasks.py and test_client.py cover on Redis.

One stack per broker for the whole module (``brokers_stack``): two workers on the simulator, results and fleet
state in a private Redis, the queues in that Redis or in a RabbitMQ vhost of the run's own. A test runs on
Redis, then on RabbitMQ (skipped, or failed under ``CI=true``, when no RabbitMQ answers).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from amqp.exceptions import PreconditionFailed
from celery import Celery
from kombu import Connection
from kombu.entity import Exchange, Queue

from harness.accounts import write_accounts
from mt5_worker import AsyncMT5Client, AuthorizationError, InvalidRequestError, MT5Client
from mt5_worker.cli.devstack import wait_for
from mt5_worker.fleet.routing import terminal_queue_name
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack, broker_stack
from tests.conftest import creds, make_accounts
from tests.plain_client import plain_client

pytestmark = [
    pytest.mark.integration,  # a test starts a stack of its own (broker_stack), not through a fixture
    pytest.mark.market_hours,  # reads the market or trades: see docs/testing.md#time
    pytest.mark.xdist_group("brokers"),  # the module's stacks (brokers_stack) are shared: one process runs them
]

A, B, C = DEMO_ACCOUNTS[:3]
PW = {a.login: a.password.get_secret_value() for a in DEMO_ACCOUNTS}
FAST = {"MT5_HEARTBEAT_INTERVAL": 0.5, "MT5_TRADING_ENABLED": True}  # departed 1.5 s after its last heartbeat
BUY = {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy", "type_filling": "ioc"}
ORDER_KEY = f"brokers-{uuid.uuid4()}"
ON_RABBITMQ = pytest.mark.parametrize("brokers_stack", ["rabbitmq"], indirect=True)  # that stack only


@pytest.fixture(scope="module")
def fleet(brokers_stack: Stack) -> Stack:
    """The module's stack per broker, with its two workers serving (started by the first test that needs them)."""
    if not brokers_stack.workers:
        brokers_stack.start_workers(["w1", "w2"], **FAST)
    return brokers_stack


@pytest.fixture
def client(fleet: Stack) -> Iterator[MT5Client]:
    c = MT5Client(app=fleet.app, settings=fleet.settings())
    yield c
    c.close()


def _owned(login: int, records: list[dict[str, Any]]) -> bool:
    """Simulated tickets are the login times 10**6 plus a sequence number (simulator/ledger.py)."""
    return all(r["ticket"] // 10**6 == login for r in records if r["ticket"])


Call = Callable[[MT5Client], Any]
Check = Callable[[Any], bool]
# Every mt5.* task a client calls, each with the account's credentials so no test depends on another's session.
TASKS: dict[str, tuple[Call, Check]] = {
    "account_info": (lambda c: c.account_info(A.login, A.server, PW[A.login]), lambda r: r["login"] == A.login),
    "login": (lambda c: c.login(B.login, PW[B.login], B.server), lambda r: (r["login"], r["active"]) == (B.login, 1)),
    "health": (lambda c: c.health(), lambda r: r["initialized"] is True),
    "pool_stats": (lambda c: c.pool_stats(), lambda r: r["metrics"]["pool_capacity"] == 20),
    "symbols": (lambda c: c.symbols(A.login, "*USD*,!*JPY*", password=PW[A.login], server=A.server),
                lambda r: "EURUSD" in {s["name"] for s in r} and "USDJPY" not in {s["name"] for s in r}),
    "symbol_info": (lambda c: c.symbol_info(A.login, "EURUSD", password=PW[A.login], server=A.server),
                    lambda r: r["name"] == "EURUSD"),
    "symbol_tick": (lambda c: c.symbol_tick(A.login, "EURUSD", password=PW[A.login], server=A.server),
                    lambda r: r["ask"] >= r["bid"] > 0),
    "rates": (lambda c: c.rates(A.login, "EURUSD", "M5", start_pos=0, count=10, password=PW[A.login],
                                server=A.server), lambda r: len(r["close"]) == 10),
    "ticks": (lambda c: c.ticks(A.login, "EURUSD", "2026-11-02T08:00:00Z", count=5, flags="info",
                                password=PW[A.login], server=A.server), lambda r: len(r["time"]) == 5),
    "market_book": (lambda c: c.market_book(A.login, "EURUSD", password=PW[A.login], server=A.server),
                    lambda r: r[0]["price"] > 0),
    "positions": (lambda c: c.positions(A.login, password=PW[A.login], server=A.server),
                  lambda r: _owned(A.login, r)),
    "orders": (lambda c: c.orders(A.login, password=PW[A.login], server=A.server), lambda r: _owned(A.login, r)),
    "history_deals": (lambda c: c.history_deals(A.login, date_from=0, date_to=2**32, password=PW[A.login],
                                                server=A.server), lambda r: bool(r) and _owned(A.login, r)),
    "history_orders": (lambda c: c.history_orders(A.login, date_from=0, date_to=2**32, password=PW[A.login],
                                                  server=A.server), lambda r: bool(r) and _owned(A.login, r)),
    "order_calc_margin": (lambda c: c.order_calc_margin(A.login, "buy", "USDJPY", 1.0, 150.0, password=PW[A.login],
                                                        server=A.server), lambda r: r == 100_000 / A.leverage),
    "order_calc_profit": (lambda c: c.order_calc_profit(A.login, "sell", "US500", 1.0, 5000.0, 4990.0,
                                                        password=PW[A.login], server=A.server), lambda r: r == 10.0),
    "order_check": (lambda c: c.order_check(A.login, BUY, password=PW[A.login], server=A.server),
                    lambda r: r["retcode"] == 0),
    "order_send": (lambda c: c.order_send(C.login, BUY, ORDER_KEY, password=PW[C.login], server=C.server),
                   lambda r: r["retcode"] == 10009),
    "order_result": (lambda c: c.order_result(C.login, f"{ORDER_KEY}-never-sent"), lambda r: r["state"] == "none"),
}  # fmt: skip


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_answers_through_the_client(fleet: Stack, client: MT5Client, task: str) -> None:
    call, check = TASKS[task]
    answer = call(client)
    assert check(answer), answer


def test_the_async_client_publishes_with_the_workers_declarations(fleet: Stack) -> None:
    async def main() -> list[int]:
        async with AsyncMT5Client(fleet.settings()) as aclient:
            answers = await asyncio.gather(*(aclient.account_info(a.login, a.server, PW[a.login]) for a in (A, B)))
        return [answer["login"] for answer in answers]

    assert [A.login, B.login] == asyncio.run(main())


def test_errors_cross_the_broker_typed_with_their_code(fleet: Stack, client: MT5Client) -> None:
    with pytest.raises(AuthorizationError) as refused:
        client.login(A.login, "wrong-password", A.server)
    assert (-6, "Terminal: Authorization failed") == (refused.value.code, refused.value.message)
    with pytest.raises(InvalidRequestError, match="server") as invalid:
        client.account_info(A.login, "", PW[A.login])
    assert -2 == invalid.value.code


@ON_RABBITMQ
def test_a_retry_waits_in_the_broker_while_the_worker_serves_others(fleet: Stack, tmp_path: Path) -> None:
    """Prefetch 1 (MT5_BATCH_WINDOW=1): were the retry's countdown waited out in the worker, it would hold the
    worker's only prefetch slot, and the health request sent meanwhile would run after the retry. A retry goes
    to the account's owner (on RabbitMQ it is routed afresh), so the account is one this worker owns."""
    accounts = make_accounts(30)
    worker = fleet.worker("wf", MT5_SIMULATOR_FAULTS={"login": {"fail_first": 1, "code": -10005}},
                          MT5_SIMULATOR_ACCOUNTS=write_accounts(tmp_path / "accounts.json", accounts),
                          MT5_BATCH_WINDOW=1, MT5_CONNECTION_RETRY_BACKOFF=2, MT5_CONNECTION_RETRY_BACKOFF_MAX=2,
                          **FAST)  # fmt: skip
    try:
        fleet.wait_serving([worker])
        fleet.router.refresh()
        mine = next(a for a in accounts if fleet.router.queue_for(a.login) == worker.queue)
        pending = fleet.app.send_task("mt5.login", args=creds(mine))  # routed, as a client sends it
        wait_for(lambda: "Retry in 2s" in worker.log_text(), 30, "the retry")
        health = fleet.app.send_task("mt5.health", queue=worker.queue)
        assert worker.nodename == health.get(timeout=30)["worker_id"]
        assert mine.login == pending.get(timeout=30)["login"]
        assert [1, 2] == [c["attempt"] for c in worker.sdk_calls("login")]
        # The health request ran while the login waited out its countdown, before the second attempt.
        log = worker.log_text()
        assert log.index(f"Task mt5.health[{health.id}] succeeded") < log.index('"attempt": 2')
    finally:
        worker.stop()


@ON_RABBITMQ
def test_the_idle_sweep_reaches_every_worker(fleet: Stack) -> None:
    sweep = fleet.app.send_task("mt5.evict_idle")  # routed as beat sends it: to the broadcast (fan-out) exchange
    for worker in fleet.workers[:2]:
        wait_for(lambda w=worker: f"Task mt5.evict_idle[{sweep.id}] succeeded" in w.log_text(), 30, "the sweep")


@ON_RABBITMQ
def test_a_departed_workers_queue_reaches_the_accounts_new_owners(fleet: Stack, client: MT5Client) -> None:
    w3 = fleet.worker("w3", **FAST)
    fleet.wait_serving([w3])
    w3.stop()  # a clean shutdown deregisters at once
    wait_for(lambda: w3.nodename not in fleet.live_workers(), 15, "w3 to leave the registry")
    # Requests a client with an older view of the fleet still sends to w3's queue are not stranded there.
    pending = [
        fleet.app.send_task("mt5.account_info", kwargs={"login": a.login, "server": a.server, "password": PW[a.login]},
                            queue=w3.queue)
        for a in DEMO_ACCOUNTS
    ]  # fmt: skip
    assert [a.login for a in DEMO_ACCOUNTS] == [r.get(timeout=30)["login"] for r in pending]
    assert any(w.events("mt5.reaper.moved", departed=w3.nodename) for w in fleet.workers[:2])


def test_a_redelivered_message_of_a_finished_task_is_acknowledged_not_run_again(fleet: Stack) -> None:
    """A worker killed after storing a result and before acknowledging its message gets it back, marked
    redelivered: made here by taking messages from a queue unacknowledged and closing the channel."""
    name = f"w{uuid.uuid4().hex[:6]}"
    queue = terminal_queue_name(f"{name}@test")
    done = fleet.app.send_task("mt5.health", queue=queue)
    fresh = fleet.app.send_task("mt5.health", queue=queue)
    fleet.app.backend.mark_as_done(done.id, {"answered": "before"})  # its worker stored this, then died
    with Connection(fleet.broker_url) as conn:
        channel = conn.channel()
        assert channel.basic_get(queue=queue, no_ack=False) is not None
        assert channel.basic_get(queue=queue, no_ack=False) is not None
        channel.close()  # unacknowledged: back in the queue, marked redelivered
    # The default heartbeat: with FAST's, a start-up slow enough to miss three beats (a loaded machine) has the
    # stack's workers take it for departed and move its queue's messages to their own queues.
    worker = fleet.worker(name)
    try:
        assert worker.nodename == fresh.get(timeout=30)["worker_id"]  # redelivered, not finished: it runs
        wait_for(lambda: worker.events("mt5.message.already_done", task_id=done.id), 15, "the finished one dropped")
        assert {"answered": "before"} == done.get(timeout=5)
        assert f"mt5.health[{done.id}] received" not in worker.log_text()
    finally:
        worker.stop()


# --- RabbitMQ: what a client must declare ---------------------------------------------------------------


@ON_RABBITMQ
def test_rabbitmq_service_queues_are_quorum_queues_and_plain_queues_celerys_defaults(fleet: Stack) -> None:
    for name in ("mt5", fleet.workers[0].queue):
        with Connection(fleet.broker_url) as conn:
            classic = Queue(name, Exchange(name, type="topic"), routing_key=name)
            with pytest.raises(PreconditionFailed, match="x-queue-type"):
                classic.declare(channel=conn.channel())
    with Connection(fleet.broker_url) as conn:  # Celery's default queue, declared as Celery declares it
        Queue("celery", Exchange("celery", type="direct"), routing_key="celery").declare(channel=conn.channel())


@ON_RABBITMQ
def test_a_plain_celery_client_that_cannot_import_mt5_worker_is_served_with_celerys_defaults(
    fleet: Stack, tmp_path: Path
) -> None:
    """Nothing but a broker URL and a backend URL: the default queue ("celery") as Celery declares it."""
    calls = [("mt5.health", {}), ("mt5.login", _kwargs(A)), ("mt5.account_info", _kwargs(B)),
             ("mt5.login", _kwargs(C) | {"password": "Plain-Wrong-Pa55"})]  # fmt: skip
    health, login, info, refused = plain_client(tmp_path, fleet.broker_url, "send_task", calls=calls,
                                                backend=fleet.redis_url)  # fmt: skip
    assert health.get("result", {}).get("initialized") is True, health
    assert (A.login, True) == (login["result"]["login"], login["result"]["active"])
    assert B.login == info["result"]["login"]
    assert ("AuthorizationError", -6) == (refused["error"]["type"], refused["error"]["args"][1])


def test_a_plain_clients_retry_waits_in_the_broker_not_in_the_worker(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A plain client's queue is on a direct exchange, which RabbitMQ's delayed delivery cannot route through: the
    retry goes to the account's own queue instead. Prefetch 1 per queue (MT5_BATCH_WINDOW=1): were the countdown
    waited out in the worker, the retry would hold the "celery" queue's only slot, and the health request the plain
    client sends there meanwhile would run after the retry."""
    stack = broker_stack(request, "rabbitmq", tmp_path)
    worker = stack.worker("wr", MT5_SIMULATOR_FAULTS={"login": {"fail_first": 1, "code": -10005}}, MT5_BATCH_WINDOW=1,
                          MT5_CONNECTION_RETRY_BACKOFF=2, MT5_CONNECTION_RETRY_BACKOFF_MAX=2, **FAST)  # fmt: skip
    stack.wait_serving([worker])
    plain = Celery("plain", broker=stack.broker_url, backend=stack.redis_url, set_as_current=False)
    pending = plain.send_task("mt5.login", kwargs=_kwargs(A))  # Celery's defaults: the "celery" queue
    wait_for(lambda: "Retry in 2s" in worker.log_text(), 30, "the retry")
    health = plain.send_task("mt5.health")
    assert worker.nodename == health.get(timeout=30)["worker_id"]
    assert A.login == pending.get(timeout=30)["login"]
    log = worker.log_text()
    assert log.index(f"Task mt5.health[{health.id}] succeeded") < log.index('"attempt": 2')
    plain.close()


def _kwargs(account: Any) -> dict[str, Any]:
    return {"login": account.login, "password": PW[account.login], "server": account.server}
