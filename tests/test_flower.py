"""Flower, the third kind of caller: it sees the workers and their mt5 tasks, with passwords redacted."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from mt5_worker.client import MT5Client
from mt5_worker.devstack import ManagedProcess, celery_argv, free_port, wait_for
from mt5_worker.terminal.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

A = DEMO_ACCOUNTS[0]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    return json.loads(body) if body.startswith(("{", "[")) else body


def _serving(url: str) -> bool:
    try:
        return bool(_get(url) == "OK")
    except OSError:  # not listening yet
        return False


@pytest.mark.parametrize("stack", ["simulator"], indirect=True)
def test_flower_lists_the_worker_and_its_tasks_with_passwords_redacted(stack: Stack) -> None:
    worker = stack.worker()
    port = free_port()
    argv = celery_argv("flower", f"--port={port}", "--address=127.0.0.1")
    flower = ManagedProcess("flower", argv, stack.env | {"FLOWER_UNAUTHENTICATED_API": "true"}, stack.log_dir)
    stack.processes.append(flower)
    flower.start()
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _serving(f"{base}/healthcheck"), 30, "flower to serve")

    client = MT5Client(app=stack.app, settings=stack.settings())
    assert A.login == client.account_info(A.login, A.server, A.password.get_secret_value())["login"]
    client.close()

    tasks = wait_for(
        lambda: [
            t for t in _get(f"{base}/api/tasks").values() if t["name"] == "mt5.account_info" and t["state"] == "SUCCESS"
        ],
        20,
        "the task's success",
    )
    assert ("SUCCESS", worker.nodename) == (tasks[0]["state"], tasks[0]["worker"])
    assert "'password': '**********'" in tasks[0]["kwargs"]
    assert worker.nodename in wait_for(lambda: _get(f"{base}/api/workers?refresh=true"), 20, "workers")
    assert "flower_events_total" in _get(f"{base}/metrics")
    assert A.password.get_secret_value() not in flower.log_text()
