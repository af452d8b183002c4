"""Garbage published straight to a worker's queue (kombu, not Celery's send_task) neither crashes nor wedges it.

Oversized, non-JSON, wrong content type, wrong-type arguments, unknown tasks, malformed headers and bodies of
either protocol (which, unguarded, stop Celery's consumer: see mt5_worker/worker/message_guard.py): afterwards the same
worker process (same pid) still serves a normal request, every message has left the queue, each one with a
readable task id has a FAILURE result saying what was wrong, and the log stays small. Well-formed messages of
protocol 1 and 2, whatever their optional fields, are accepted (property-based, on Celery's own message
builders) and served.
"""

from __future__ import annotations

import json
import pickle
import uuid
from typing import Any

import redis
from celery.exceptions import NotRegistered
from celery.result import AsyncResult
from kombu import Connection

from mt5_worker.cli.devstack import wait_for
from mt5_worker.errors import InvalidRequestError
from mt5_worker.simulator import DEMO_ACCOUNTS
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
        "task header is a list": with_headers(task_message("mt5.health"), task=["mt5.health"]),
        "unknown task, id not a string": with_headers(task_message("mt5.logon"), id=5),
        "protocol 1, task is a list": protocol1({"task": ["mt5.health"]}),
        "protocol 1, id not a string": protocol1({"id": 5}),
        "protocol 1, kwargs a list": protocol1({"kwargs": [1, SECRET]}),
        "protocol 1, bad time limit": protocol1({"timelimit": "forever"}),
        "protocol 1, bad eta": protocol1({"eta": "yesterday"}),
        "protocol 1, callbacks not a list": protocol1({"callbacks": "x"}),
    }


def with_headers(message: dict[str, Any], **headers: Any) -> dict[str, Any]:
    return message | {"headers": message["headers"] | headers}


def protocol1(fields: dict[str, Any], task: str = "mt5.health", headers: Any = None) -> dict[str, Any]:
    """A Celery protocol 1 message (the body holds everything, the headers nothing) with ``fields`` in its body."""
    body = {"task": task, "id": str(uuid.uuid4()), "args": [], "kwargs": {}, "retries": 0, "eta": None,
            "expires": None, "utc": True, "callbacks": None, "errbacks": None, "timelimit": [None, None],
            "taskset": None, "chord": None} | fields  # fmt: skip
    return task_message(task) | {"headers": headers or {}, "body": json.dumps(body).encode()}


def task_id_of(message: dict[str, Any]) -> Any:
    """The id a caller of ``message`` waits on: in its headers, else in its protocol 1 body."""
    if "id" in message["headers"]:
        return message["headers"]["id"]
    try:
        return json.loads(message["body"]).get("id")
    except (ValueError, AttributeError):
        return None


# Well-formed calls with bad arguments: each must fail with the same clear error a Celery client would get.
REFUSED = ("10 MB argument", "login is a string", "login is a list", "password is a number")
# What the other messages' callers get; those whose id is not a string get nothing (no result to store).
OUTCOMES: dict[str, type[BaseException]] = {"unknown task": NotRegistered, "too many arguments": TypeError}
NO_ID = ("unknown task, id not a string", "protocol 1, id not a string")


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
    for name, message in messages.items():
        if name in NO_ID:
            continue
        outcome = AsyncResult(task_id_of(message), app=simulator_stack.app)
        error = wait_for(lambda r=outcome: r.ready() and r.result, 30, f"the result of {name!r}")
        assert isinstance(error, OUTCOMES.get(name, InvalidRequestError)), (name, error)
        if name not in REFUSED and name not in OUTCOMES:
            assert error.message.startswith("malformed task message: "), (name, error)
            assert (-2, "FAILURE") == (error.code, outcome.state)
        assert SECRET not in repr(error)

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


def test_well_formed_protocol_1_and_hybrid_messages_are_served(simulator_stack: Stack) -> None:
    worker = simulator_stack.worker()
    account = {"login": A.login, "server": A.server, "password": A.password.get_secret_value()}
    minimal = {"task": "mt5.health", "id": str(uuid.uuid4()), "args": [], "kwargs": {}}
    messages = {
        "protocol 1, every field": protocol1({}),
        "protocol 1, account_info": protocol1({"kwargs": account}, task="mt5.account_info"),
        "protocol 1, positional": protocol1({"args": [A.login, A.server]}, task="mt5.account_info"),
        "protocol 1, only the required fields": task_message("mt5.health")
        | {"headers": {}, "body": json.dumps(minimal).encode()},
        # A task header over a protocol 1 body: Celery reads the body's fields, then the headers over them.
        "hybrid": protocol1({"args": [], "kwargs": {"login": A.login}}, task="mt5.account_info",
                            headers={"task": "mt5.account_info", "id": str(uuid.uuid4())}),
    }  # fmt: skip
    with Connection(simulator_stack.redis_url) as connection:
        producer = connection.Producer()
        for message in messages.values():
            producer.publish(exchange="", routing_key=worker.queue, retry=True, **message)
    results = {name: AsyncResult(task_id_of(m), app=simulator_stack.app) for name, m in messages.items()}
    for name in ("protocol 1, every field", "protocol 1, only the required fields"):
        assert results[name].get(timeout=30)["initialized"] is True, name
    for name in ("protocol 1, account_info", "protocol 1, positional", "hybrid"):
        assert A.login == results[name].get(timeout=30)["login"], name
    assert "invalid task message" not in worker.log_text()
