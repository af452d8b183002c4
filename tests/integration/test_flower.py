"""Flower, the third kind of caller: against a real worker, it lists the mt5 tasks by name with their
arguments, and no password appears anywhere in what it serves (API, pages, its own log)."""

from __future__ import annotations

import urllib.error
from typing import Any

import pytest

from harness.flower import datatable_query
from mt5_worker.cli.devstack import wait_for
from mt5_worker.client import MT5Client
from mt5_worker.errors import AuthorizationError
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

A, B = DEMO_ACCOUNTS[0], DEMO_ACCOUNTS[1]
WRONG_PASSWORD = "wrong-SECRET-pw-4711"
BASIC_AUTH = "ops:flower-test-pass"  # as docker-compose.yml runs it: FLOWER_BASIC_AUTH from the environment


def test_flower_lists_mt5_tasks_with_arguments_and_never_a_password(simulator_stack: Stack) -> None:
    worker = simulator_stack.worker()
    process = simulator_stack.flower(BASIC_AUTH)
    flower = process.api()

    with pytest.raises(urllib.error.HTTPError) as refused:  # basic auth guards the API
        flower.text("/api/tasks", auth=False)
    assert 401 == refused.value.code

    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings())

    def records_a_probe() -> bool:
        """Flower serves HTTP before its event receiver is subscribed: probe until it records a task."""
        probe = client.submit_health()
        probe.get(timeout=30)
        try:
            wait_for(lambda: probe.id in flower.json("/api/tasks"), 3, "a probe task in Flower", poll=0.2)
        except TimeoutError:
            return False
        return True

    wait_for(records_a_probe, 45, "flower to record task events")
    assert A.login == client.account_info(A.login, A.server, A.password.get_secret_value())["login"]
    assert B.login == client.login(B.login, B.password.get_secret_value(), B.server)["login"]
    with pytest.raises(AuthorizationError):
        client.login(DEMO_ACCOUNTS[2].login, WRONG_PASSWORD, DEMO_ACCOUNTS[2].server)
    client.close()

    def finished() -> dict[str, dict[str, Any]]:
        tasks = flower.json("/api/tasks")
        # Events can reach Flower out of order: a task may be known as finished before its "received" event
        # (which carries the name) arrives; such a task is not listed yet.
        done = {f"{t['name']}:{t['state']}": t for t in tasks.values() if t["state"] in ("SUCCESS", "FAILURE")}
        wanted = ("mt5.account_info:SUCCESS", "mt5.login:SUCCESS", "mt5.login:FAILURE")
        return done if all(k in done for k in wanted) else {}

    done = wait_for(finished, 20, "the three tasks to finish in Flower")
    info = done["mt5.account_info:SUCCESS"]
    assert worker.nodename == info["worker"]
    kwargs = info["kwargs"]  # the redacted kwargsrepr the client sent: arguments visible, password not
    assert f"'login': {A.login}" in kwargs and f"'server': '{A.server}'" in kwargs
    assert "'password': '**********'" in kwargs
    assert "AuthorizationError" in done["mt5.login:FAILURE"]["exception"]

    for task in done.values():  # every view of each task: details, stored result, its page
        assert task["name"] == flower.json(f"/api/task/info/{task['uuid']}")["name"]
        flower.text(f"/api/task/result/{task['uuid']}")
        assert task["uuid"] in flower.text(f"/task/{task['uuid']}")
    table = flower.json(f"/tasks/datatable?{datatable_query(50)}")
    assert {"mt5.account_info", "mt5.login"} <= {row["name"] for row in table["data"]}
    assert "mt5.account_info" in flower.text("/tasks") + flower.text("/api/task/types")
    workers = wait_for(lambda: flower.json("/api/workers?refresh=true"), 20, "workers")
    assert worker.nodename in workers
    flower.text(f"/worker/{worker.nodename}")
    assert "flower_events_total" in flower.text("/metrics")

    everything = "\n".join([*flower.bodies, process.log_text()])
    for secret in (A.password.get_secret_value(), B.password.get_secret_value(), WRONG_PASSWORD):
        assert secret not in everything
