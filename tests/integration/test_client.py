"""MT5Client and the router: account affinity, departed workers' queues, redacted task representations."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from types import SimpleNamespace

import pytest
import redis
from celery.exceptions import TaskRevokedError
from celery.exceptions import TimeoutError as CeleryTimeoutError

from harness.processes import WorkerProcess
from mt5_worker.cli.devstack import wait_for
from mt5_worker.client import MT5Client
from mt5_worker.errors import AuthorizationError
from mt5_worker.fleet.registry import WorkerRegistry, reapers
from mt5_worker.fleet.routing import choose, terminal_queue_name
from mt5_worker.fleet.sessions import connect
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.simulator.specs import AccountSpec
from mt5_worker.worker.heartbeat import Heartbeat
from mt5_worker.worker.reaper import queue_length
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.xdist_group(__name__)  # one shared worker per backend (shared_stack)

A, B, C = DEMO_ACCOUNTS[:3]


FAST = {"MT5_HEARTBEAT_INTERVAL": 0.5}  # departed after 1.5 s without a heartbeat


def secret(account: AccountSpec) -> str:
    return account.password.get_secret_value()


def served_by(workers: list[WorkerProcess], login: int) -> list[str]:
    return [w.nodename for w in workers if w.sdk_calls("login", login=login)]


def test_each_account_sticks_to_the_worker_rendezvous_hashing_picks(simulator_stack: Stack) -> None:
    # The client's hashing, not the terminal's: on the simulator only (the bridge adds nothing but time).
    workers = [simulator_stack.worker("w1"), simulator_stack.worker("w2")]
    # Plain affinity: this tests hashing. Under bounded load (the default) a burst like this one can still spill
    # once a report with a low rate replaces the idle one, whose answers count (test_bounded_load.py and the
    # answers' test in test_async_client.py test that routing).
    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings(routing_load_factor=0))
    wait_for(lambda: client.workers() == ["w1@test", "w2@test"], 15, "both workers registered")
    for _ in range(3):
        for account in DEMO_ACCOUNTS:
            assert account.login == client.account_info(account.login, account.server, secret(account))["login"]
    owners = {a.login: choose(a.login, {"w1@test": 20, "w2@test": 20}) for a in DEMO_ACCOUNTS}
    assert {"w1@test", "w2@test"} == set(owners.values())  # the demo accounts spread over both
    for account in DEMO_ACCOUNTS:
        assert [owners[account.login]] == served_by(workers, account.login)
    # Celery's own send_task/apply_async (no queue given) goes through the same router.
    assert A.login == simulator_stack.call("mt5.account_info", login=A.login)["login"]
    assert [owners[A.login]] == served_by(workers, A.login)
    client.close()


def test_a_departed_workers_queue_moves_to_the_survivors(simulator_stack: Stack) -> None:
    # The fleet's queues, not the terminal's: on the simulator only (the bridge adds nothing but time).
    w1, w2 = simulator_stack.worker("w1", **FAST), simulator_stack.worker("w2", **FAST)
    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings())
    wait_for(lambda: client.workers() == ["w1@test", "w2@test"], 15, "both workers registered")
    w2.stop()  # a clean shutdown deregisters at once
    assert ["w1@test"] == client.workers()
    # Requests a client with an old view still sends to w2's queue are not stranded there.
    pending = [
        simulator_stack.app.send_task("mt5.account_info", queue=w2.queue,
                                      kwargs={"login": a.login, "server": a.server, "password": secret(a)})
        for a in DEMO_ACCOUNTS
    ]  # fmt: skip
    assert [a.login for a in DEMO_ACCOUNTS] == [r.get(timeout=30)["login"] for r in pending]
    assert w1.events("mt5.reaper.moved", departed="w2@test")
    assert all(client.route(a.login) == w1.queue for a in DEMO_ACCOUNTS)
    client.close()


@pytest.mark.timeout(150)
def test_a_killed_workers_unacknowledged_request_is_redelivered_to_a_survivor(simulator_stack: Stack) -> None:
    # The broker's redelivery, not the terminal's: on the simulator only (the bridge adds nothing but time).
    slow = {"MT5_SIMULATOR_LATENCY": {"login": 30.0}, "MT5_BROKER_VISIBILITY_TIMEOUT": 10,
            "MT5_TASK_TIME_LIMIT": 5, "MT5_CONNECTION_RETRY_BACKOFF_MAX": 2, **FAST}  # fmt: skip
    w1 = simulator_stack.worker("w1", **slow | {"MT5_SIMULATOR_LATENCY": {}})
    w2 = simulator_stack.worker("w2", **slow)
    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings())
    wait_for(lambda: client.workers() == ["w1@test", "w2@test"], 15, "both workers registered")
    account = next(a for a in DEMO_ACCOUNTS if client.route(a.login) == w2.queue)
    result = client.submit_account_info(account.login, account.server, secret(account))
    # Celery logs "received" once the broker recorded the message as unacknowledged (a kill before that
    # point is kombu's documented pop-then-record gap, see docs/reliability.md).
    wait_for(lambda: "received" in w2.log_text(), 15, "w2 took the request")
    w2.stop(signal.SIGKILL)  # parent and child, mid-login: the message stays unacknowledged
    assert account.login == result.get(timeout=100)["login"]  # restored after 10 s, then moved to w1
    assert [w1.nodename] == [w.nodename for w in (w1,) if w.sdk_calls("login", login=account.login)]
    client.close()


def test_errors_reach_the_caller_typed(shared_stack: Stack) -> None:
    client = MT5Client(app=shared_stack.app, settings=shared_stack.settings())
    with pytest.raises(AuthorizationError) as caught:
        client.login(A.login, "Wrong-Pass-123", A.server)
    assert (-6, "Terminal: Authorization failed") == (caught.value.code, caught.value.message)
    client.close()


def test_task_events_seen_by_flower_show_the_password_redacted(shared_stack: Stack) -> None:
    client = MT5Client(app=shared_stack.app, settings=shared_stack.settings())
    received: list[dict[str, object]] = []

    def capture() -> None:
        def on_received(event: dict[str, object]) -> None:
            received.append(event)
            receiver.should_stop = True

        with shared_stack.app.connection() as conn:
            receiver = shared_stack.app.events.Receiver(conn, handlers={"task-received": on_received})
            with contextlib.suppress(socket.timeout, TimeoutError):
                receiver.capture(limit=None, timeout=15, wakeup=False)

    listener = threading.Thread(target=capture)
    listener.start()
    time.sleep(1)  # subscribed before the task is sent
    assert A.login == client.account_info(A.login, A.server, A.password.get_secret_value())["login"]
    listener.join()
    assert 1 == len(received)
    assert "'password': '**********'" in str(received[0]["kwargs"])
    assert A.password.get_secret_value() not in repr(received)
    client.close()


def test_a_request_its_caller_gave_up_on_expires_instead_of_running_later(simulator_stack: Stack) -> None:
    # The message's expiry, not the terminal's: on the simulator only (the bridge adds nothing but time).
    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings())
    with pytest.raises(CeleryTimeoutError):  # no worker yet: the caller times out
        client.account_info(B.login, B.server, secret(B), timeout=1)
    abandoned = client.submit_account_info(A.login, A.server, secret(A), expires=1)
    time.sleep(1.5)
    worker = simulator_stack.worker()  # comes back after both callers stopped waiting
    fresh = client.account_info(C.login, C.server, secret(C))  # served after the stale ones in the queue
    assert C.login == fresh["login"]
    with pytest.raises(TaskRevokedError, match="expired"):
        abandoned.get(timeout=10)
    assert [] == worker.sdk_calls("login", login=A.login) + worker.sdk_calls("login", login=B.login)
    client.close()


def test_steady_state_sends_make_no_redis_ping(shared_stack: Stack) -> None:
    client = MT5Client(app=shared_stack.app, settings=shared_stack.settings())
    assert A.login == client.account_info(A.login, A.server, secret(A))["login"]  # connections warm
    server = redis.Redis.from_url(shared_stack.redis_url)
    server.config_resetstat()
    pending = [client.submit_account_info(A.login) for _ in range(50)]
    assert all(A.login == r.get(timeout=30)["login"] for r in pending)
    pings = server.info("commandstats").get("cmdstat_ping", {}).get("calls", 0)
    assert pings < 5, f"{pings} PINGs for 50 sends"
    client.close()


def test_only_the_elected_reapers_of_a_departed_queue_drain_it(simulator_stack: Stack) -> None:
    """Heartbeat.beat in this process, for three live terminal ids of one fleet (no worker processes needed): a
    departed worker's queue is moved by its reapers only, so a large fleet does not drain it N times a beat."""
    live = ["a@test", "b@test", "c@test"]
    registry = WorkerRegistry(connect(simulator_stack.redis_url), ttl=30)
    now = time.time()
    for tid in live:
        registry.heartbeat(tid, 20, now)
    WorkerRegistry(connect(simulator_stack.redis_url), ttl=1).heartbeat("gone@test", 20, now - 60)
    gone = terminal_queue_name("gone@test")
    for a in DEMO_ACCOUNTS:
        simulator_stack.app.send_task("mt5.account_info", kwargs={"login": a.login, "server": a.server}, queue=gone)
    elected = reapers(["gone@test"], live)["gone@test"]
    (outsider,) = set(live) - set(elected)

    def beat(terminal_id: str) -> None:
        step = Heartbeat(SimpleNamespace(hostname=terminal_id, app=simulator_stack.app))
        step.registry = WorkerRegistry(connect(simulator_stack.redis_url), ttl=30)
        step.beat()

    beat(outsider)
    assert len(DEMO_ACCOUNTS) == queue_length(simulator_stack.app, gone)  # not its queue to adopt
    beat(elected[0])
    assert 0 == queue_length(simulator_stack.app, gone)
    moved = {tid: queue_length(simulator_stack.app, terminal_queue_name(tid)) for tid in live}
    assert len(DEMO_ACCOUNTS) == sum(moved.values())
    assert all(n == sum(choose(a.login, dict.fromkeys(live, 20)) == tid for a in DEMO_ACCOUNTS)
               for tid, n in moved.items())  # fmt: skip
