"""Garbage published straight to a worker's queue (kombu, not Celery's send_task) neither crashes nor wedges it.

Oversized, non-JSON, wrong content type, wrong-type arguments, unknown tasks, malformed headers and bodies
(which, unguarded, stop Celery's consumer: see mt5_worker/message_guard.py): afterwards the same worker
process (same pid) still serves a normal request, every message has left the queue, and the log stays small.
"""

from __future__ import annotations

import json
import pickle
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.result import AsyncResult
from kombu import Connection

from mt5_worker.devstack import wait_for
from mt5_worker.errors import InvalidRequestError
from mt5_worker.terminal.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

A = DEMO_ACCOUNTS[0]
SECRET = "Garbage-Held-Pa55word"  # inside messages the worker cannot run: must not be logged either
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def task_message(task: str, args: Any = (), kwargs: Any = None, body: Any = None, **headers: Any) -> dict[str, Any]:
    """A Celery protocol 2 message as kombu publish() arguments; ``body``/``headers`` override the parts."""
    task_id = str(uuid.uuid4())
    return {
        "body": json.dumps([list(args), kwargs or {}, EMBED] if body is None else body).encode(),
        "headers": {
            "lang": "py",
            "task": task,
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "eta": None,
            "expires": None,
            "timelimit": [None, None],
            "argsrepr": "",
            "kwargsrepr": "",
            "origin": "hostile-test",
            "ignore_result": False,
            **headers,
        },
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "correlation_id": task_id,
    }


def hostile_messages() -> dict[str, dict[str, Any]]:
    account = {"login": A.login, "server": A.server}
    return {
        "10 MB argument": task_message("mt5.account_info", kwargs=account | {"password": "p" * 10_000_000}),
        "10 MB of garbage": task_message("mt5.account_info") | {"body": b"\xff{" * 5_000_000},
        "not JSON": task_message("mt5.account_info") | {"body": b"\x80\x81 {{{ " + SECRET.encode()},
        "JSON, not a list": task_message("mt5.account_info", body={"login": A.login, "password": SECRET}),
        "kwargs not an object": task_message("mt5.account_info", body=[[], [1, 2], EMBED]),
        "pickle": task_message("mt5.login")
        | {
            "body": pickle.dumps(([], account, EMBED)),
            "content_type": "application/x-python-serialize",
            "content_encoding": "binary",
        },
        "unknown content type": task_message("mt5.login") | {"content_type": "application/x-evil"},
        "login is a string": task_message("mt5.account_info", kwargs={"login": "abc", "server": A.server}),
        "login is a list": task_message("mt5.login", args=[[1, 2], "pw", A.server]),
        "password is a number": task_message("mt5.login", kwargs=account | {"password": 12345}),
        "too many arguments": task_message("mt5.health", args=[1, 2, 3]),
        "unknown task": task_message("mt5.logon", kwargs=account | {"password": SECRET}),
        "no task header": task_message("mt5.login") | {"headers": {"id": str(uuid.uuid4())}},
        "bad eta": task_message("mt5.account_info", kwargs=account, eta="not-a-date"),
        "bad time limit": task_message("mt5.account_info", kwargs=account, timelimit="forever"),
        "bad retries": task_message("mt5.health", retries="many"),
        "JSON number body": task_message("mt5.health", body=5),
        "protocol 1 body": task_message("mt5.health")
        | {
            "headers": {},
            "body": json.dumps({"task": "mt5.health", "id": str(uuid.uuid4()), "args": 5, "kwargs": "x"}).encode(),
        },
        "builtin task, bad body": task_message("celery.backend_cleanup", body={"x": 1}),
    }


# Well-formed calls with bad arguments: each must fail with the same clear error a Celery client would get.
REFUSED = ("10 MB argument", "login is a string", "login is a list", "password is a number")


@pytest.fixture
def simulator_stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(redis_url, tmp_path)
    yield s
    s.close()


def test_hostile_messages_do_not_crash_or_wedge_the_worker(simulator_stack: Stack) -> None:
    worker = simulator_stack.worker()
    pid = simulator_stack.call("mt5.health", queue=worker.queue)["pid"]
    messages = hostile_messages()
    with Connection(simulator_stack.redis_url) as connection:
        producer = connection.Producer()
        for message in messages.values():
            producer.publish(exchange="", routing_key=worker.queue, retry=True, **message)

    r = redis.Redis.from_url(simulator_stack.redis_url)
    wait_for(lambda: not r.llen(worker.queue) and not r.hlen("unacked"), 60, "every hostile message consumed")
    for name in REFUSED:
        refused = AsyncResult(messages[name]["headers"]["id"], app=simulator_stack.app)
        assert isinstance(wait_for(lambda r=refused: r.ready() and r.result, 30, name), InvalidRequestError), name

    assert worker.process.running
    assert pid == simulator_stack.call("mt5.health", queue=worker.queue)["pid"], "the worker's child was replaced"
    info = simulator_stack.call(
        "mt5.account_info", A.login, A.server, A.password.get_secret_value(), queue=worker.queue
    )
    assert A.login == info["login"]
    assert [] == [m for m in worker.sdk_calls("login") if m.get("login") != A.login], "garbage reached the terminal"
    assert "Unrecoverable error" not in worker.log_text()
    assert 2 == len(worker.events("mt5.message.undecodable"))  # reported in one line each, without the body
    assert len(worker.log_text()) < 1_000_000, "a 10 MB body was written to the log"
    assert SECRET not in worker.log_text()
