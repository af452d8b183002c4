"""MT5Client: routing to the worker that holds an account's session, redacted task representations."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from mt5_worker.client import MT5Client
from mt5_worker.devstack import wait_for
from mt5_worker.errors import AuthorizationError
from mt5_worker.terminal.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack
from tests.conftest import creds

A, B = DEMO_ACCOUNTS[:2]


def test_requests_follow_the_session_to_its_worker(stack: Stack) -> None:
    w1, w2 = stack.worker("w1"), stack.worker("w2")
    client = MT5Client(app=stack.app, settings=stack.settings())
    wait_for(lambda: set(client.workers()) == {w1.nodename, w2.nodename}, 15, "both workers registered")
    assert client.route(A.login) is None  # nobody holds it: the shared queue
    stack.call("mt5.login", *creds(A), queue=w2.queue)
    assert w2.queue.name == client.route(A.login).name
    for _ in range(5):
        assert A.login == client.account_info(A.login)["login"]  # no password needed: w2 holds the session
    assert 1 == len(w2.sdk_calls("login"))
    assert [] == w1.sdk_calls("login")
    assert 5 == client.pool_stats(w2.nodename)["metrics"]["reuses"]
    assert [w1.nodename, w2.nodename] == sorted(s["worker_id"] for s in client.pool_stats_all())
    client.close()


def test_errors_reach_the_caller_typed(stack: Stack) -> None:
    stack.worker()
    client = MT5Client(app=stack.app, settings=stack.settings())
    with pytest.raises(AuthorizationError) as caught:
        client.login(A.login, "Wrong-Pass-123", A.server)
    assert (-6, "Terminal: Authorization failed") == (caught.value.code, caught.value.message)
    client.close()


def test_task_events_seen_by_flower_show_the_password_redacted(stack: Stack) -> None:
    stack.worker()
    client = MT5Client(app=stack.app, settings=stack.settings())
    received: list[dict[str, object]] = []

    def capture() -> None:
        def on_received(event: dict[str, object]) -> None:
            received.append(event)
            receiver.should_stop = True

        with stack.app.connection() as conn:
            receiver = stack.app.events.Receiver(conn, handlers={"task-received": on_received})
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
