"""Exactly-once trading on real workers, in the interleavings of test_order_interleavings.py reached through Celery
itself. The worker holds an order inside ``order_send`` (the simulator's latency sleeps *before* the simulated
server executes it) while the fleet does what it does in production: a warm shutdown (``docker stop`` signals the
main process only), a broker connection lost under a running task. Neither may execute the key twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from mt5_worker.cli.devstack import wait_for
from mt5_worker.errors import OrderOutcomeUnknownError
from mt5_worker.fleet.order_desk import OrderDesk
from mt5_worker.fleet.order_journal import OrderJournal
from mt5_worker.fleet.registry import workers_key
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager.order_intents import prepare
from mt5_worker.manager.trading import Trader
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.simulator.trade_store import TradeStore
from tests.celery_fixtures import Stack, broker_stack
from tests.conftest import simulator

pytestmark = [
    pytest.mark.integration,
    pytest.mark.market_hours,
]  # starts processes of its own; reads the market or trades: see docs/testing.md#time

A = DEMO_ACCOUNTS[0]
BUY = {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy", "type_filling": "ioc"}
IN_FLIGHT = 8.0  # seconds the worker's order_send is held before the simulated server executes it
TRADING: dict[str, Any] = {"MT5_TRADING_ENABLED": True, "MT5_SIMULATOR_LATENCY": {"order_send": IN_FLIGHT}}


def order(key: str) -> dict[str, Any]:
    return {"login": A.login, "request": BUY, "idempotency_key": key, "password": A.password.get_secret_value(),
            "server": A.server}  # fmt: skip


def executions(stack: Stack, key: str) -> int:
    tag = prepare(A.login, BUY, key).tag
    store = TradeStore(stack.log_dir / "trade-servers.sqlite3")
    try:
        return sum(1 for e in store.executions(A.server, A.login) if e.comment.startswith(tag))
    finally:
        store.close()


def pending_owner(r: redis.Redis, key: str) -> str | None:
    """The worker that holds ``key``'s pending record, once it claimed it."""
    journal = OrderJournal(r, ttl=60, lease=60)
    record = journal.read(A.login, key)
    return record.worker if record is not None and record.state == "pending" else None


def test_a_warm_shutdown_mid_send_holds_a_resend_off_until_the_order_is_recorded(simulator_stack: Stack) -> None:
    w1 = simulator_stack.worker("w1", **TRADING)
    simulator_stack.wait_serving([w1])
    key = f"review-{uuid.uuid4()}"
    first = simulator_stack.app.send_task("mt5.order_send", kwargs=order(key), queue=w1.queue)
    r = redis.Redis.from_url(simulator_stack.redis_url, decode_responses=True)
    wait_for(lambda: pending_owner(r, key) == w1.nodename, 30, "w1 to claim the key")

    assert w1.pid is not None
    os.kill(w1.pid, signal.SIGTERM)  # a warm shutdown: the main process only, as `docker stop` signals PID 1
    wait_for(lambda: (r.zscore(workers_key(), w1.nodename) or 0) <= time.time(), 10, "w1 to deregister")
    assert pending_owner(r, key) == w1.nodename and w1.running  # still inside order_send, and departed

    # The caller's resend of the same key (the client's timeout ran out) reaches another worker.
    sim = simulator(trade_store=simulator_stack.log_dir / "trade-servers.sqlite3")
    manager = MT5ConnectionManager(sim, Settings.load(_env_file=None), sleep=lambda _: None)
    desk = OrderDesk(Trader(manager), OrderJournal(r, ttl=3600, lease=120), "w2@review")
    account = {"password": order(key)["password"], "server": A.server}
    try:
        with pytest.raises(OrderOutcomeUnknownError, match="may still send"):
            desk.send(prepare(A.login, BUY, key), "task-resend", **account)
        answered = first.get(timeout=60)
        again = desk.send(prepare(A.login, BUY, key), "task-resend-2", **account)
    finally:
        manager.shutdown()
    assert executions(simulator_stack, key) == 1 and sim.calls["order_send"] == 0
    assert (again["source"], again["deal"]) == ("recorded", answered["deal"])


@pytest.fixture
def rabbitmq_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Stack:
    return broker_stack(request, "rabbitmq", tmp_path)


def _amqp_connections_of(pid: int) -> set[int]:
    """Local TCP ports of ``pid``'s connections to the broker (port 5672)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", "( dport = :5672 )"], capture_output=True,
                         text=True, timeout=10).stdout  # fmt: skip
    ports = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            local = line.split()[2]
            ports.add(int(local.rsplit(":", 1)[1]))
    return ports


def _cut(ports: set[int]) -> None:
    """A network blip: reset these TCP connections (``ss -K``), so the broker sees them drop at once."""
    for port in ports:
        subprocess.run(["ss", "-K", "-tn", "state", "established", f"( sport = :{port} )"], capture_output=True,
                       timeout=10, check=True)  # fmt: skip


def test_a_broker_connection_lost_mid_send_does_not_execute_the_order_twice(rabbitmq_stack: Stack) -> None:
    """RabbitMQ requeues what a consumer held the moment its connection drops; Celery lets the running task go on
    (worker_cancel_long_running_tasks_on_connection_loss is off). The other worker then runs the same task id,
    which the claim lets reconcile at once. The owner's main process is paused while its connections are cut
    (its running child is not), so that the requeued message goes to the other worker rather than back to the
    owner's own reserve, as when the owner's network stays down a little longer."""
    stack = rabbitmq_stack
    workers = stack.start_workers(["w1", "w2"], **TRADING)
    key = f"review-{uuid.uuid4()}"
    first = stack.app.send_task("mt5.order_send", kwargs=order(key), queue="mt5")  # the shared queue
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    wait_for(lambda: pending_owner(r, key) is not None, 30, "a worker to claim the key")
    owner = next(w for w in workers if w.nodename == pending_owner(r, key))
    assert owner.pid is not None
    ports = _amqp_connections_of(owner.pid)
    assert ports, "the owner has no broker connection"
    os.kill(owner.pid, signal.SIGSTOP)
    try:
        _cut(ports)
        other = next(w for w in workers if w is not owner)
        wait_for(lambda: other.events("mt5.trade.request", idempotency_key=key), 30, "the requeued copy to run")
    finally:
        os.kill(owner.pid, signal.SIGCONT)
    r_done = OrderJournal(r, ttl=60, lease=60)
    wait_for(lambda: (rec := r_done.read(A.login, key)) is not None and rec.state == "done", 60, "the outcome")
    answered = first.get(timeout=60)
    assert other.events("mt5.trade.outcome", idempotency_key=key, outcome="in_progress")  # the copy held off
    assert executions(stack, key) == 1, f"executed {executions(stack, key)} times; the caller was told {answered}"
