"""Clients that know nothing of mt5_worker: a plain ``Celery(broker=URL, backend=URL)`` in a process that cannot
import it, and hand-built protocol 1 messages, as clients in other languages send them (docs/interop.md).

They publish to Celery's default queue "celery" with no routing, no redacted ``kwargsrepr`` and no exception
classes of ours; the worker serves them, stores errors they can read (message, code, attempts, and the code
beside Celery's fields, no traceback), and the documented purge command empties every queue.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from mt5_worker.cli.devstack import wait_for
from mt5_worker.errors import AuthorizationError
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack
from tests.plain_client import plain_client

A, B, C = DEMO_ACCOUNTS[:3]
WRONG_PASSWORD = "Plain-Wrong-Pa55"
INTEROP = (Path(__file__).resolve().parents[2] / "docs" / "interop.md").read_text()


def stored(url: str, task_id: str) -> dict[str, Any]:
    """The result as Redis holds it, as a client in any language reads it."""
    raw = redis.Redis.from_url(url).get(f"celery-task-meta-{task_id}")
    assert raw is not None, f"no result stored for {task_id}"
    meta: dict[str, Any] = json.loads(raw)
    return meta


def _retrying(url: str, task_id: str) -> dict[str, Any] | None:
    raw = redis.Redis.from_url(url).get(f"celery-task-meta-{task_id}")
    meta: dict[str, Any] | None = json.loads(raw) if raw is not None else None
    return meta if meta is not None and meta["status"] == "RETRY" else None


def kwargs_of(account: Any, password: str | None = None) -> dict[str, Any]:
    secret = password if password is not None else account.password.get_secret_value()
    return {"login": account.login, "password": secret, "server": account.server}


AUTH_FAILED = ["Terminal: Authorization failed", -6, 1]


@pytest.mark.parametrize("protocol", [2, 1])
def test_a_plain_client_that_cannot_import_mt5_worker_calls_every_task(
    simulator_stack: Stack, tmp_path: Path, protocol: int
) -> None:
    worker = simulator_stack.worker()
    calls = [
        ("mt5.health", {}),
        ("mt5.login", kwargs_of(A)),
        ("mt5.account_info", kwargs_of(B)),
        ("mt5.login", kwargs_of(C, WRONG_PASSWORD)),
    ]
    health, login, info, refused = plain_client(
        tmp_path, simulator_stack.redis_url, "send_task", calls=calls, protocol=protocol
    )

    assert (True, worker.nodename) == (health["result"]["initialized"], health["result"]["worker_id"])
    assert (A.login, A.server, True) == (login["result"]["login"], login["result"]["server"], login["result"]["active"])
    assert (B.login, B.name) == (info["result"]["login"], info["result"]["name"])
    # Celery rebuilds an exception class the client does not have as a new class in celery.exceptions.
    assert {"type": "AuthorizationError", "module": "celery.exceptions", "args": AUTH_FAILED} == refused["error"]


def test_a_hand_built_protocol_1_message_is_served_and_its_result_readable(
    simulator_stack: Stack, tmp_path: Path
) -> None:
    simulator_stack.worker()
    calls = [("mt5.health", {}), ("mt5.account_info", kwargs_of(A)), ("mt5.login", kwargs_of(B, WRONG_PASSWORD))]
    health, info, refused = plain_client(tmp_path, simulator_stack.redis_url, "hand_built_protocol_1", calls=calls)
    assert health["result"]["initialized"] is True
    assert (A.login, A.server) == (info["result"]["login"], info["result"]["server"])
    assert {"type": "AuthorizationError", "module": "celery.exceptions", "args": AUTH_FAILED} == refused["error"]


def test_stored_errors_carry_the_code_and_no_traceback_and_python_clients_rebuild_them(
    simulator_stack: Stack, tmp_path: Path
) -> None:
    simulator_stack.worker(
        MT5_SIMULATOR_FAULTS={"login": {"fail_first": 1, "code": -10002}}, MT5_CONNECTION_RETRY_BACKOFF=2
    )
    # The first login hits the injected IPC failure and waits 2 s to be retried: stored as RETRY meanwhile.
    retried = simulator_stack.app.send_task("mt5.login", kwargs=kwargs_of(B))
    # STARTED comes first (task_track_started), then RETRY for the 2 s countdown: read the stored meta then.
    meta = wait_for(lambda: _retrying(simulator_stack.redis_url, retried.id), 20, "the RETRY state")
    assert ("TransientMT5Error", ["IPC recv failed", -10002, 1], -10002, None) == (
        meta["result"]["exc_type"], meta["result"]["exc_message"], meta["result"]["code"], meta["traceback"]
    )  # fmt: skip
    assert B.login == retried.get(timeout=30)["login"]

    (refused,) = plain_client(
        tmp_path, simulator_stack.redis_url, "send_task", calls=[("mt5.login", kwargs_of(A, "x" * 9))]
    )
    meta = stored(simulator_stack.redis_url, refused["id"])
    assert "FAILURE" == meta["status"]
    assert {
        "exc_type": "AuthorizationError",
        "exc_message": AUTH_FAILED,
        "exc_module": "mt5_worker.errors",
        "code": -6,
    } == meta["result"]
    assert meta["traceback"] is None

    unexpected = simulator_stack.app.send_task("mt5.health", args=(1, 2, 3))  # a TypeError: not an MT5 error
    with pytest.raises(TypeError):
        unexpected.get(timeout=30)
    meta = stored(simulator_stack.redis_url, unexpected.id)
    assert ("TypeError", None, None) == (meta["result"]["exc_type"], meta["result"]["code"], meta["traceback"])

    # A Python client with mt5_worker rebuilds the typed error, attributes and all.
    with pytest.raises(AuthorizationError) as caught:
        simulator_stack.call("mt5.login", A.login, WRONG_PASSWORD, A.server)
    assert ("Terminal: Authorization failed", -6, 1) == (caught.value.message, caught.value.code, caught.value.attempts)
    assert "MT5 error -6: Terminal: Authorization failed" == str(caught.value)


def test_workers_consume_the_shared_queues_of_mt5_shared_queues(simulator_stack: Stack) -> None:
    simulator_stack.worker(MT5_SHARED_QUEUES="mt5,legacy")
    assert simulator_stack.call("mt5.health", queue="legacy", timeout=15)["initialized"] is True
    assert simulator_stack.call("mt5.health", queue="mt5", timeout=15)["initialized"] is True
    simulator_stack.app.send_task("mt5.health", queue="celery")  # not a shared queue of this worker: stays queued
    time.sleep(2)
    assert 1 == redis.Redis.from_url(simulator_stack.redis_url).llen("celery")


def _purge_command() -> str:
    section = INTEROP.split("## Purging every queue", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return str(block)


def test_the_documented_purge_command_empties_the_shared_and_the_terminal_queues(
    redis_url: str, tmp_path: Path
) -> None:
    stack = Stack(redis_url, tmp_path)  # no worker: the messages stay queued until purged
    try:
        queues = ["mt5", "celery", "mt5.terminal.w1@test", "mt5.terminal.w2@host"]
        for queue in queues:
            stack.app.send_task("mt5.health", queue=queue)
        stack.app.send_task("mt5.health", queue="mt5.terminal.w1@test", priority=5)  # a list of its own in kombu
        r = redis.Redis.from_url(redis_url)

        def queued(queue: str) -> int:  # every priority list of the queue: "<name>" and "<name>\x06\x16<step>"
            return sum(r.llen(key) for key in r.scan_iter() if key.split(b"\x06\x16")[0] == queue.encode())

        assert [1, 1, 2, 1] == [queued(q) for q in queues]
        bin_dir = str(Path(sys.executable).parent)  # celery, as installed beside this interpreter
        env = stack.env | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-c", _purge_command()], env=env, capture_output=True, text=True, timeout=60)
        assert 0 == done.returncode, done.stderr
        assert "Purged 5 messages from 4 known task queues." in done.stdout, done.stdout
        assert [0, 0, 0, 0] == [queued(q) for q in queues]
    finally:
        stack.close()
