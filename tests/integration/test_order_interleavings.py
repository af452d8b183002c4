"""Exactly-once trading under the interleavings in which one idempotency key could be executed twice, or its
outcome lost or misreported. Each test is one interleaving on a real Redis and simulated terminals
sharing one trade-server file (two workers' terminals on the same account), driven step by step: the first worker
is held *inside* ``order_send`` (before the simulated server executes it) by the simulator's latency hook, while a
second worker acts on the same key.

Each test's docstring says which interleaving it drives; ``test_lease_expiry_mid_send_races_as_docs_warn`` shows
the one documented limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded

from harness.env import clock_offset, simulated_now
from mt5_worker.errors import OrderOutcomeUnknownError
from mt5_worker.fleet.order_desk import OrderDesk
from mt5_worker.fleet.order_journal import Attempt, OrderJournal
from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager.order_intents import prepare
from mt5_worker.manager.trading import Trader
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.simulator.trade_store import Changes, Execution, TradeStore
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import OrderSendResult, TradeOrder
from tests.conftest import simulator

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

A = DEMO_ACCOUNTS[0]
BUY = {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy", "type_filling": "ioc"}
LEASE = 60.0
SETTLE = 0.2  # MT5_TRADING_SETTLE, short for the tests
HELD = 5.0  # the latency that marks order_send as the call to hold (its value is never slept)


def creds() -> dict[str, Any]:
    return {"password": A.password.get_secret_value(), "server": A.server}


class Gate:
    """The simulator's ``sleep``: a call with latency stops here until :meth:`open`; :attr:`entered` says it is
    held. The simulator sleeps *before* it executes, so a held ``order_send`` has not reached the server yet."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._open = threading.Event()

    def __call__(self, _seconds: float) -> None:
        self.entered.set()
        if not self._open.wait(30):
            raise RuntimeError("gate never opened")

    def open(self) -> None:
        self._open.set()


class Worker:
    """One worker's desk: its own simulated terminal (on the shared trade-server file), the shared Redis."""

    def __init__(self, url: str, store: Path, worker_id: str, *, gate: Gate | None = None, lease: float = LEASE,
                 sim: SimulatedTerminal | None = None) -> None:  # fmt: skip
        latency = {"order_send": HELD} if gate is not None else {}
        self.sim = sim or simulator(trade_store=store, latency=latency, sleep=gate or time.sleep)
        self.manager = MT5ConnectionManager(self.sim, Settings.load(_env_file=None), sleep=lambda _: None)
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.registry = WorkerRegistry(self.redis, ttl=30)
        self.worker_id = worker_id
        self.registry.heartbeat(worker_id, 20, time.time())
        self.journal = OrderJournal(self.redis, ttl=3600, lease=lease)
        self.desk = OrderDesk(Trader(self.manager), self.journal, worker_id, settle=SETTLE)

    def send(self, request: dict[str, Any], key: str, task: str) -> dict[str, Any]:
        return self.desk.send(prepare(A.login, request, key), task, **creds())

    def send_in_thread(self, request: dict[str, Any], key: str, task: str) -> tuple[threading.Thread, list[Any]]:
        """``send`` in a thread; the list receives its answer or its exception."""
        out: list[Any] = []

        def run() -> None:
            try:
                out.append(self.send(request, key, task))
            except BaseException as exc:  # the test inspects it
                out.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread, out


def executions(store: Path, key: str, request: dict[str, Any] = BUY) -> int:
    """How many orders the trade server executed (or placed) carrying ``key``'s tag."""
    tag = prepare(A.login, request, key).tag
    return sum(1 for e in TradeStore(store).executions(A.server, A.login) if e.comment.startswith(tag))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "trade-servers.sqlite3"


@pytest.fixture
def workers(redis_url: str, store: Path) -> Iterator[Callable[..., Worker]]:
    made: list[Worker] = []

    def make(worker_id: str, **options: Any) -> Worker:
        made.append(Worker(redis_url, store, worker_id, **options))
        return made[-1]

    yield make
    for w in made:
        w.manager.shutdown()
        w.redis.close()


def _race(owner: Worker, gate: Gate, other: Callable[[], Any], key: str) -> tuple[list[Any], Any]:
    """Hold ``owner`` inside order_send for ``key``, run ``other`` meanwhile, then let the owner finish."""
    thread, owner_out = owner.send_in_thread(BUY, key, "task-1")
    assert gate.entered.wait(10), "the owner never reached order_send"
    try:
        other_out: Any = other()
    except BaseException as exc:  # the interleaving's verdict is read below
        other_out = exc
    gate.open()
    thread.join(10)
    return owner_out, other_out


# --- F1: a second attempt runs while the first is still inside order_send ---------------------------------------


def test_a_copy_of_the_running_task_does_not_send_again(workers: Callable[..., Worker], store: Path) -> None:
    """RabbitMQ requeues an unacknowledged message as soon as the consumer's connection drops (a network blip)
    while Celery lets the task run on (worker_cancel_long_running_tasks_on_connection_loss is False); a client
    may also reuse a task id. Either way a second worker gets the *same task id* while the first is in
    order_send: the claim treats it as "the same task redelivered" and reconciles at once."""
    gate = Gate()
    w1, w2 = workers("w1@review", gate=gate), workers("w2@review")
    _, second = _race(w1, gate, lambda: w2.send(BUY, "k-same-task", "task-1"), "k-same-task")
    assert executions(store, "k-same-task") == 1, f"executed twice; the copy answered {second!r}"


def test_an_owner_that_left_the_fleet_mid_send_is_not_raced(workers: Callable[..., Worker], store: Path) -> None:
    """A warm shutdown deregisters the worker (Heartbeat.stop) before the pool has finished the running task; a
    heartbeat also lapses when only the worker's Redis link is cut. The key's owner then looks departed and the
    client's resend of the same key (another task) reconciles and sends while the owner is still sending."""
    gate = Gate()
    w1, w2 = workers("w1@review", gate=gate), workers("w2@review")

    def resend_after_deregister() -> Any:
        w1.registry.deregister("w1@review", time.time())  # what Heartbeat.stop does at a warm shutdown
        return w2.send(BUY, "k-departed", "task-2")

    _, second = _race(w1, gate, resend_after_deregister, "k-departed")
    assert executions(store, "k-departed") == 1, f"executed twice; the resend answered {second!r}"


def test_lease_expiry_mid_send_races_as_docs_warn(workers: Callable[..., Worker], store: Path) -> None:
    """The documented limit, shown: an owner still in order_send when its lease ends is raced by the takeover
    (two executions). Settings refuse a lease that does not outlast the task's hard time limit, after which the
    pool has killed the owner's process: see test_the_default_lease_outlasts_an_attempt."""
    gate = Gate()
    w1 = workers("w1@review", gate=gate, lease=0.3)
    w2 = workers("w2@review", lease=0.3)

    def after_the_lease() -> Any:
        time.sleep(0.4)
        return w2.send(BUY, "k-lease", "task-2")

    _race(w1, gate, after_the_lease, "k-lease")
    assert executions(store, "k-lease") == 2


# --- F2: the key is freed after the order may have executed ---------------------------------------------------


class InterruptedAfterSending(SimulatedTerminal):
    """The order executes, then the worker's process is interrupted before order_send's answer is used: Celery's
    soft time limit (SIGUSR1 -> SoftTimeLimitExceeded, from any bytecode), or any non-MT5 exception after the
    call (the real adapter's ``_fields`` KeyError on an SDK result missing a field)."""

    def order_send(self, *args: Any, **kwargs: Any) -> OrderSendResult | None:
        result = super().order_send(*args, **kwargs)
        if result is not None and result.retcode == c.TRADE_RETCODE_DONE:
            raise SoftTimeLimitExceeded()
        return result


def test_an_interruption_after_execution_keeps_the_key(workers: Callable[..., Worker], store: Path) -> None:
    w = workers("w1@review", sim=InterruptedAfterSending(trade_store=store, clock_offset=clock_offset()))
    with pytest.raises(OrderOutcomeUnknownError, match="SoftTimeLimitExceeded"):
        w.send(BUY, "k-interrupted", "task-1")
    assert executions(store, "k-interrupted") == 1
    record = w.journal.read(A.login, "k-interrupted")
    # The outcome stays discoverable: the key is not released, and the next attempt reconciles it.
    assert record is not None and record.state == "unknown", record
    assert w.send(BUY, "k-interrupted", "task-2")["source"] == "reconciled"
    assert executions(store, "k-interrupted") == 1


# --- F3: reconciliation reports an outcome that did not happen -------------------------------------------------


def _pending_order(w: Worker, key: str, **extra: Any) -> tuple[dict[str, Any], Any]:
    tick = w.manager.run(A.login, "symbol_info_tick", "BTCUSD", **creds())
    limit = {"action": "pending", "symbol": "BTCUSD", "volume": 0.01, "type": "buy_limit",
             "price": round(tick.bid * 0.95, 2)} | extra  # fmt: skip
    placed = w.send(limit, key, "task-place")
    assert placed["retcode"] == c.TRADE_RETCODE_PLACED, placed
    (order,) = w.manager.run(A.login, "orders_get", **creds(), ticket=placed["order"])
    return limit, order


def _lost_on_the_way(w: Worker, request: dict[str, Any], key: str) -> None:
    """The first attempt fails before the request reaches the server (-10002 without ``after``): pending key."""
    w.sim.inject_fault("order_send", fail_first=1, code=-10002)
    with pytest.raises(OrderOutcomeUnknownError):
        w.send(request, key, "task-1")
    w.sim.clear_faults()
    time.sleep(SETTLE)  # before this, not finding it proves nothing (it may still be in flight)


def test_a_modify_of_the_expiry_only_is_not_reported_done_unsent(workers: Callable[..., Worker]) -> None:
    w = workers("w1@review")
    limit, order = _pending_order(w, "k-place-exp")
    later = int(simulated_now()) + 7 * 86400
    modify = {"action": "modify", "order": order.ticket, "price": limit["price"], "type_time": "specified",
              "expiration": later}  # fmt: skip
    _lost_on_the_way(w, modify, "k-modify-exp")
    answer = w.send(modify, "k-modify-exp", "task-1")  # Celery's retry: reconciles first
    (now,) = w.manager.run(A.login, "orders_get", **creds(), ticket=order.ticket)
    assert now.time_expiration == later, f"answered {answer['retcode']} ({answer['comment']}) but never sent"


def test_a_remove_of_an_order_filled_meanwhile_is_not_reported_done(workers: Callable[..., Worker]) -> None:
    w = workers("w1@review")
    _, order = _pending_order(w, "k-place-fill")
    remove = {"action": "remove", "order": order.ticket}
    _lost_on_the_way(w, remove, "k-remove")
    # Meanwhile the trade server fills the pending order (the simulator never triggers orders: do it as the
    # server would, in its store): the order leaves the pending orders for the history, FILLED.
    now_ms = int(simulated_now() * 1000)
    filled = order._replace(state=c.ORDER_STATE_FILLED, time_done=now_ms // 1000, time_done_msc=now_ms)
    changes = Changes(Execution(A.server, A.login, now_ms, c.TRADE_ACTION_DEAL, c.TRADE_RETCODE_DONE, order.ticket, 0,
                                "server fill"), removed_orders=[order.ticket], history_orders=[filled],
                      taken=[order.ticket])  # fmt: skip
    with w.sim.trade_store.session(A.server, A.login) as session:
        session.apply(changes)
    answer = w.send(remove, "k-remove", "task-1")
    assert answer["retcode"] != c.TRADE_RETCODE_DONE, (
        "a filled order is reported removed ('state reached'): the caller believes it cancelled an order that "
        "opened a position"
    )


def test_a_market_order_canceled_unfilled_is_not_reported_placed(workers: Callable[..., Worker]) -> None:
    """An IOC/FOK market order the server canceled unfilled leaves a tagged history order and no deal; the
    reconciliation answers 10008 ("placed": a live pending order) for a request that executed nothing."""
    w = workers("w1@review")
    intent = prepare(A.login, BUY, "k-canceled")
    dead = Attempt("gone@review", "inc", "t-dead", "token")
    assert w.journal.claim(A.login, "k-canceled", intent.fingerprint, dead) == "claimed"
    assert w.journal.unknown(A.login, "k-canceled", dead)
    now_ms = int(simulated_now() * 1000)
    with w.sim.trade_store.session(A.server, A.login) as session:  # what the server recorded for it
        ticket = session.ticket()
        canceled = TradeOrder(ticket, now_ms // 1000, now_ms, now_ms // 1000, now_ms, 0, c.ORDER_TYPE_BUY,
                              c.ORDER_TIME_GTC, c.ORDER_FILLING_IOC, c.ORDER_STATE_CANCELED, 0, 0, 0,
                              c.REASON_EXPERT, 0.01, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, "BTCUSD", intent.tag,
                              "")  # fmt: skip
        session.apply(Changes(Execution(A.server, A.login, now_ms, c.TRADE_ACTION_DEAL, c.TRADE_RETCODE_DONE, ticket,
                                        0, "server cancel"), history_orders=[canceled]))  # fmt: skip
    answer = w.send(BUY, "k-canceled", "task-new")
    assert answer["retcode"] != c.TRADE_RETCODE_PLACED, answer


def _open(w: Worker, key: str, kind: str) -> int:
    opened = w.send(BUY | {"type": kind}, key, "task-open")
    assert opened["retcode"] == c.TRADE_RETCODE_DONE, opened
    return int(opened["order"])  # a new position's ticket is its order's


def _lost_reply(w: Worker, request: dict[str, Any], key: str) -> None:
    """The first attempt executes on the server, and its reply is lost (-10002 ``after``): pending key."""
    w.sim.inject_fault("order_send", fail_first=1, code=-10002, after=True)
    with pytest.raises(OrderOutcomeUnknownError):
        w.send(request, key, "task-1")
    w.sim.clear_faults()


def test_sltp_executed_then_position_closed_is_not_recorded_as_refused(workers: Callable[..., Worker]) -> None:
    w = workers("w1@review")
    ticket = _open(w, "k-open-sltp", "buy")
    (position,) = w.manager.run(A.login, "positions_get", **creds(), ticket=ticket)
    sltp = {"action": "sltp", "position": ticket, "sl": round(position.price_open * 0.9, 2)}
    _lost_reply(w, sltp, "k-sltp")  # the server set the stop loss
    closed = w.send(BUY | {"type": "sell", "position": ticket}, "k-close", "task-close")
    assert closed["retcode"] == c.TRADE_RETCODE_DONE, closed
    sends = w.sim.calls["order_send"]
    answer = w.send(sltp, "k-sltp", "task-1")  # the retry reconciles: the position is gone, nothing to resend
    assert (answer["retcode"], answer["source"]) == (c.TRADE_RETCODE_POSITION_CLOSED, "reconciled"), answer
    assert w.sim.calls["order_send"] == sends


def test_a_reconciled_close_by_reports_the_volume_closed(workers: Callable[..., Worker]) -> None:
    w = workers("w1@review")
    buy, sell = _open(w, "k-cb-buy", "buy"), _open(w, "k-cb-sell", "sell")
    close_by = {"action": "close_by", "position": buy, "position_by": sell}
    _lost_reply(w, close_by, "k-close-by")
    answer = w.send(close_by, "k-close-by", "task-1")
    assert answer["source"] == "reconciled"
    assert answer["volume"] == 0.01, f"reconciled volume {answer['volume']} for a 0.01 close_by"
