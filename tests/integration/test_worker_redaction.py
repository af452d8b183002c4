"""The worker redacts passwords itself, whatever the client sent: a plain Celery client sets no redacted
``kwargsrepr`` (Celery's default is ``saferepr(kwargs)``, password included), yet Celery's own tools show none.

Checked with the real tools against a real worker: ``celery inspect active / reserved / scheduled`` run as
subprocesses while requests run, wait and are scheduled; task events captured by a real event receiver (what
Flower shows; they carry no traceback either); the worker's log for a message naming an unknown task.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.exceptions import NotRegistered

from mt5_worker.cli.devstack import celery_argv, wait_for
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

A, B, C = DEMO_ACCOUNTS[:3]
WRONG_PASSWORD = "Wrong-Plain-Pa55word"
UNKNOWN_TASK_PASSWORD = "Unknown-Task-Pa55word"
PASSWORDS = [a.password.get_secret_value() for a in DEMO_ACCOUNTS] + [WRONG_PASSWORD, UNKNOWN_TASK_PASSWORD]
REDACTED = "**********"


@pytest.fixture
def plain(simulator_stack: Stack) -> Iterator[Celery]:
    """A plain Celery client: no configuration of ours, so no routing and Celery's own ``kwargsrepr``."""
    app = Celery("plain", broker=simulator_stack.redis_url, backend=simulator_stack.redis_url, set_as_current=False)
    yield app
    app.close()


def secret(account: Any) -> str:
    return str(account.password.get_secret_value())


def assert_no_password(text: str, where: str) -> None:
    leaked = [p for p in PASSWORDS if p in text]
    assert not leaked, f"{where} shows a password"


def inspect(simulator_stack: Stack, command: str) -> subprocess.Popen[str]:
    """``celery -A mt5_worker.worker.app inspect <command> --json`` as an operator runs it, started now."""
    argv = celery_argv("inspect", command, "--json", "--timeout=3")  # it waits that long for replies
    return subprocess.Popen(argv, env=simulator_stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_celery_inspect_shows_active_reserved_and_scheduled_arguments_redacted(
    simulator_stack: Stack, plain: Celery
) -> None:
    worker = simulator_stack.worker(MT5_SIMULATOR_LATENCY={"account_info": 20})
    active = plain.send_task("mt5.account_info", kwargs={"login": A.login, "password": secret(A), "server": A.server})
    reserved = plain.send_task("mt5.login", args=[B.login, secret(B), B.server])  # positional password
    scheduled = plain.send_task(
        "mt5.account_info", kwargs={"login": C.login, "password": secret(C), "server": C.server}, countdown=300
    )
    wait_for(lambda: active.state == "STARTED", 15, "the first request to run")
    running = {command: inspect(simulator_stack, command) for command in ("active", "reserved", "scheduled")}
    answers = {}
    for command, process in running.items():
        out, err = process.communicate(timeout=60)
        assert 0 == process.returncode, err
        assert_no_password(out + err, f"inspect {command}")
        (answers[command],) = json.loads(out.strip().splitlines()[-1]).values()  # {nodename: [...]}
    assert active.state == "STARTED", "the request finished before inspect saw it running: raise the latency"

    (running_request,) = answers["active"]
    assert (active.id, {"login": A.login, "password": REDACTED, "server": A.server}) == (
        running_request["id"], running_request["kwargs"]
    )  # fmt: skip
    (waiting,) = answers["reserved"]
    assert (reserved.id, [B.login, REDACTED, B.server]) == (waiting["id"], waiting["args"])
    (later,) = answers["scheduled"]
    assert (scheduled.id, REDACTED) == (later["request"]["id"], later["request"]["kwargs"]["password"])
    assert_no_password(worker.log_text(), "the worker log")
    worker.stop(signal.SIGQUIT)  # not waiting for the slow request


def test_task_events_show_arguments_redacted_and_carry_no_traceback(simulator_stack: Stack, plain: Celery) -> None:
    # The first SDK login fails once (IPC): that request is retried, re-sent by the worker itself.
    worker = simulator_stack.worker(MT5_SIMULATOR_FAULTS={"login": {"fail_first": 1, "code": -10002}})
    events: list[dict[str, Any]] = []
    subscribed = threading.Event()

    def capture() -> None:
        def on_event(event: dict[str, Any]) -> None:
            events.append(event)
            finished = [e for e in events if e["type"] in ("task-succeeded", "task-failed")]
            receiver.should_stop = len(finished) >= 3

        with simulator_stack.app.connection() as conn:
            receiver = simulator_stack.app.events.Receiver(conn, handlers={"*": on_event})
            subscribed.set()
            with contextlib.suppress(socket.timeout, TimeoutError):
                receiver.capture(limit=None, timeout=30, wakeup=False)

    listener = threading.Thread(target=capture)
    listener.start()
    subscribed.wait(10)
    time.sleep(1)  # the receiver's queue is bound before the first task is sent
    retried = plain.send_task("mt5.account_info", kwargs={"login": A.login, "password": secret(A), "server": A.server})
    assert A.login == retried.get(timeout=30)["login"]
    refused = plain.send_task("mt5.login", kwargs={"login": C.login, "password": WRONG_PASSWORD, "server": C.server})
    with pytest.raises(Exception, match="Authorization failed"):
        refused.get(timeout=30)
    unexpected = plain.send_task("mt5.health", args=[1, 2, 3])  # a TypeError: unexpected, so logged in full
    with pytest.raises(TypeError):
        unexpected.get(timeout=30)
    listener.join(40)

    kinds = [e["type"] for e in events]
    assert {"task-received", "task-retried", "task-failed", "task-succeeded"} <= set(kinds), kinds
    assert_no_password(repr(events), "a task event")
    received = [e for e in events if e["type"] == "task-received" and e["uuid"] == retried.id]
    assert 2 == len(received)  # the client's message, then the worker's retry
    assert all(f"'password': '{REDACTED}'" in e["kwargs"] for e in received)
    (login_received,) = [e for e in events if e["type"] == "task-received" and e["uuid"] == refused.id]
    assert f"'login': {C.login}" in login_received["kwargs"]
    assert [] == [e for e in events if e.get("traceback")], "an event carries a traceback"
    assert {"task-retried", "task-failed"} <= {e["type"] for e in events if "exception" in e}
    assert "Traceback (most recent call last)" in worker.log_text()  # the worker's own log keeps it
    assert_no_password(worker.log_text(), "the worker log")


def test_an_unknown_task_with_a_password_is_failed_and_logged_without_it(simulator_stack: Stack, plain: Celery) -> None:
    worker = simulator_stack.worker()
    unknown = plain.send_task("mt5.logon", kwargs={"login": A.login, "password": UNKNOWN_TASK_PASSWORD})
    with pytest.raises(NotRegistered):
        unknown.get(timeout=30)
    assert "Received unregistered task of type 'mt5.logon'" in worker.log_text()
    assert unknown.id in worker.log_text()  # its headers are logged, without the arguments' representations
    assert_no_password(worker.log_text(), "the worker log")
