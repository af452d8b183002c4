"""Task metrics on a real worker's endpoint: every outcome where Celery decides it (the child runs tasks; the main
process drops revoked, expired and malformed messages and outlives a child killed at the time limit), queue wait
from the publish stamp, the backlog the heartbeat reports to the registry, and the board the two processes share."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.exceptions import NotRegistered
from celery.result import AsyncResult
from kombu import Connection

from mt5_worker.cli.devstack import free_port, wait_for
from mt5_worker.errors import AuthorizationError
from mt5_worker.fleet.load import LoadReport
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.worker.queue_wait import published_stamp
from mt5_worker.worker.shared_board import SharedBoard
from tests.celery_fixtures import Stack
from tests.integration.test_metrics import samples, scrape, value

A, B = DEMO_ACCOUNTS[:2]
TASKS = ("mt5.account_info", "mt5.login")
pytestmark = pytest.mark.timeout(120)


def tasks_total(found: dict[Any, float], task: str, outcome: str) -> float:
    return value(found, "mt5_tasks_total", task=task, outcome=outcome) or 0.0


def test_every_outcome_is_counted_by_task_where_celery_decides_it(simulator_stack: Stack) -> None:
    port = free_port()
    s = simulator_stack
    worker = s.worker(
        MT5_METRICS_PORT=port,
        MT5_TASK_TIME_LIMIT=2,
        MT5_SIMULATOR_LATENCY={"positions_get": 6},  # mt5.positions overstays the time limit: its child is killed
        MT5_SIMULATOR_FAULTS={"account_info": {"fail_first": 1, "code": -10005}},
    )
    wait_for(lambda: _scrape(port), 20, "the metrics endpoint")
    client = s.client
    client.login(A.login, A.password.get_secret_value(), A.server)

    # 1. Killed at the hard time limit: the main process records it; the next child's endpoint still shows it.
    first_child = worker.child_pid()
    with pytest.raises(Exception, match="TimeLimitExceeded"):
        client.submit("mt5.positions", {"login": A.login}).get(timeout=30)
    wait_for(lambda: worker.child_pid() not in (None, first_child), 20, "a new child")
    wait_for(lambda: _scrape(port), 20, "the new child's endpoint")

    # 2. In the child: a retry (IPC timeout -10005) then success; a refused login (-6).
    client.account_info(A.login, A.server, A.password.get_secret_value())
    with pytest.raises(AuthorizationError):
        client.login(B.login, "wrong-password", B.server)

    # 3. In the main process: unknown task, malformed message, expired and revoked messages.
    with pytest.raises(NotRegistered):
        s.app.send_task("mt5.no_such_task", queue=worker.queue).get(timeout=10)
    _publish_raw(s, worker.queue, task="mt5.account_info", body={"not": "a task body"})
    past = datetime.now(UTC) - timedelta(seconds=1)
    s.app.send_task("mt5.health", queue=worker.queue, expires=past)
    revoked_id = str(uuid.uuid4())
    s.app.control.revoke(revoked_id)
    time.sleep(0.5)  # the worker has the revocation before the message arrives
    s.app.send_task("mt5.health", task_id=revoked_id, queue=worker.queue)

    # 4. Queue wait: a message published 5 s before it could start (its stamp says so).
    s.app.send_task("mt5.health", queue=worker.queue, headers=published_stamp(time.time() - 5)).get(timeout=10)

    def settled() -> dict[Any, float] | None:
        found = _scrape(port)
        ok = found is not None and all(
            tasks_total(found, task, outcome) >= 1
            for task, outcome in (("mt5.health", "expired"), ("mt5.health", "revoked"), ("other", "rejected"),
                                  ("mt5.account_info", "rejected"), ("mt5.health", "succeeded"))
        )  # fmt: skip
        return found if ok else None

    found = wait_for(settled, 20, "every outcome on the endpoint")
    assert 1 == tasks_total(found, "mt5.positions", "failed")  # once, though Celery signals it twice
    assert 1 == value(found, "mt5_task_errors_total", task="mt5.positions", outcome="failed",
                      error="TimeLimitExceeded", code="")  # fmt: skip
    assert (1, 1) == (tasks_total(found, "mt5.account_info", "retried"),
                      tasks_total(found, "mt5.account_info", "succeeded"))  # fmt: skip
    assert 1 == value(found, "mt5_task_errors_total", task="mt5.account_info", outcome="retried",
                      error="TransientMT5Error", code="-10005")  # fmt: skip
    assert 1 == value(found, "mt5_task_errors_total", task="mt5.login", outcome="failed",
                      error="AuthorizationError", code="-6")  # fmt: skip
    assert 1 == value(found, "mt5_sdk_failures_total", function="login", code="-6")
    assert (1, 1, 1, 1) == (
        tasks_total(found, "other", "rejected"),  # the unknown name is not a label
        tasks_total(found, "mt5.account_info", "rejected"),
        tasks_total(found, "mt5.health", "expired"),
        tasks_total(found, "mt5.health", "revoked"),
    )
    # the stamped mt5.health waited >= 5 s: past the 5 s bucket, within the 10 s one
    health = {"task": "mt5.health"}
    assert 1 == value(found, "mt5_task_queue_wait_seconds_count", **health)
    assert 0 == value(found, "mt5_task_queue_wait_seconds_bucket", le="2.5", **health)
    assert 1 == value(found, "mt5_task_queue_wait_seconds_bucket", le="10.0", **health)
    assert 2 == value(found, "mt5_task_queue_wait_seconds_count", task="mt5.account_info")  # attempt and retry
    assert 2 == value(found, "mt5_task_runtime_seconds_count", task="mt5.account_info")
    labels = {v for (_, key) in found for _, v in key}
    assert str(A.login) not in labels and str(B.login) not in labels and revoked_id not in labels


def test_the_backlog_on_the_endpoint_is_what_the_registry_has(simulator_stack: Stack) -> None:
    """The figure bounded-load routing reads: one measure, reported to Redis and shown on /metrics."""
    port = free_port()
    s = simulator_stack
    worker = s.worker(MT5_METRICS_PORT=port, MT5_LOAD_REPORT_INTERVAL=0.1, MT5_SIMULATOR_LATENCY={"version": 0.5})
    wait_for(lambda: _scrape(port), 20, "the metrics endpoint")
    pending = [s.app.send_task("mt5.health", queue=worker.queue) for _ in range(8)]  # ~1 s each (two calls)

    def same_reading() -> tuple[float, LoadReport] | None:
        found = _scrape(port)
        report = LoadReport.decode(s.r.hget("mt5:workers:load", worker.nodename))
        if found is None or report is None:
            return None
        at = value(found, "mt5_worker_backlog_timestamp_seconds")
        backlog = value(found, "mt5_worker_backlog")
        # A reading taken while requests still wait (the 8 take ~8 s; a busy machine may catch the tail of them).
        under_load = backlog is not None and backlog >= 2
        return (backlog, report) if under_load and at is not None and abs(at - report.at) < 1e-3 else None

    backlog, report = wait_for(same_reading, 20, "a scrape and a registry read of one measure under a backlog")
    assert backlog == report.backlog >= 2
    for result in pending:
        result.get(timeout=30)


@pytest.mark.integration  # forks a process
def test_the_board_is_shared_with_a_forked_child() -> None:
    """What a prefork child writes (its terminal, its pool's logins) the main process reads, and the other way
    round."""
    board = SharedBoard(TASKS, pool_size=3)
    board.set_backlog(7, 123.0)
    pid = os.fork()
    if pid == 0:  # the child: reads the main process's backlog, writes its terminal and running task
        try:
            assert 7 == board.get("backlog")
            board.set_terminal(
                child_pid=os.getpid(),
                initialized=True,
                connected=True,
                capacity=20,
                logins=[10000001, 10000002, 20000003],
            )
            board.set_running("mt5.login")
            board.count("mt5.login", "revoked")
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert 0 == status
    terminal = board.terminal()
    assert (pid, True, True, 3, 20, "mt5.login") == (
        terminal.child_pid, terminal.initialized, terminal.connected, terminal.sessions, terminal.capacity,
        terminal.running,
    )  # fmt: skip
    assert terminal.at > 0 and terminal.running_since > 0
    assert (10000001, 10000002, 20000003) == terminal.logins
    assert [("mt5.login", "revoked", "", 1.0)] == list(board.counts())
    board.set_running(None)
    assert board.terminal().running is None


def _scrape(port: int) -> dict[Any, float] | None:
    try:
        return scrape(port)
    except OSError:
        return None


def _publish_raw(s: Stack, queue: str, task: str, body: Any) -> AsyncResult:
    task_id = str(uuid.uuid4())
    with Connection(s.redis_url) as connection:
        connection.Producer().publish(
            json.dumps(body).encode(), exchange="", routing_key=queue, retry=True, content_type="application/json",
            content_encoding="utf-8", headers={"task": task, "id": task_id},
        )  # fmt: skip
    return AsyncResult(task_id, app=s.app)


assert samples  # re-exported helpers of test_metrics
