"""``mt5-worker health`` against a real worker: healthy, worker stopped, Redis down, terminal not up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mt5_worker.cli import health as healthcheck
from mt5_worker.cli.devstack import RedisServer
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.integration  # starts processes of its own (subprocesses, servers), not through fixtures


def run_cli(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """The console script, as a container's healthcheck runs it; it must finish on its own."""
    done = subprocess.run(
        [sys.executable, "-m", "mt5_worker.cli", "health", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout)


def test_healthy_worker_then_the_same_worker_stopped(redis_url: str, tmp_path: Path) -> None:
    stack = Stack(redis_url, tmp_path)
    try:
        worker = stack.worker()
        code, report = run_cli(stack.env, "--worker", worker.nodename, "--timeout", "10")
        assert (0, True, None) == (code, report["healthy"], report["reason"]), report
        assert (worker.nodename, worker.nodename) == (report["worker"], report["terminal_id"])
        assert {"redis": True, "worker": True, "terminal": True} == {k: v["ok"] for k, v in report["checks"].items()}
        terminal = report["checks"]["terminal"]
        assert (True, "simulator", worker.nodename) == (
            terminal["initialized"],
            terminal["backend"],
            terminal["worker_id"],
        )

        # No account is logged in yet: the terminal has no trade server connection, which fails only on request.
        code, report = run_cli(stack.env, "--worker", worker.nodename, "--timeout", "10", "--require-connected")
        assert (1, "terminal not connected to a trade server") == (code, report["reason"])

        worker.stop()
        code, report = run_cli(stack.env, "--worker", worker.nodename, "--timeout", "2")
        assert (1, False) == (code, report["healthy"])
        assert f"worker {worker.nodename} did not answer ping" in report["reason"]
        assert {"redis": True, "worker": False} == {k: v["ok"] for k, v in report["checks"].items()}
    finally:
        stack.close()


def test_redis_down_is_unhealthy_and_its_password_never_shown(
    private_redis_server: RedisServer, tmp_path: Path
) -> None:
    stack = Stack(private_redis_server.url, tmp_path)
    try:
        private_redis_server.stop()
        code, report = run_cli(stack.env, "--worker", "w1@test", "--timeout", "3")
        assert (1, False) == (code, report["healthy"])
        assert report["reason"].startswith(f"redis unreachable at {private_redis_server.url}")
        assert {"redis": False} == {k: v["ok"] for k, v in report["checks"].items()}

        # A password in the URL never reaches the report.
        with_password = private_redis_server.url.replace("redis://", "redis://:hunter2-secret@")
        code, report = run_cli(stack.env | {"REDIS_URL": with_password}, "--worker", "w1@test", "--timeout", "3")
        assert 1 == code
        assert "hunter2-secret" not in json.dumps(report)
        assert report["reason"].startswith("redis unreachable at redis://:**@127.0.0.1:")
        assert {"redis": False} == {k: v["ok"] for k, v in report["checks"].items()}
    finally:
        stack.close()


def test_the_terminal_check_needs_the_workers_own_queue(redis_url: str, tmp_path: Path) -> None:
    """A terminal id no worker owns: ping succeeds, the mt5.health task is never answered."""
    stack = Stack(redis_url, tmp_path)
    try:
        worker = stack.worker()
        settings = stack.settings()
        result = healthcheck.check(settings, worker.nodename, terminal_id="nobody", timeout=2)
        assert (False, {"redis": True, "worker": True, "terminal": False}) == (
            result.healthy,
            {k: v["ok"] for k, v in result.checks.items()},
        )
        assert result.reason is not None and "no answer to mt5.health on queue mt5.terminal.nobody" in result.reason
    finally:
        stack.close()


def test_bad_settings_are_unhealthy_not_exit_2(tmp_path: Path) -> None:
    code, report = run_cli({"PATH": "/usr/bin:/bin", "MT5_CONNECTION_POOL_SIZE": "0"}, "--timeout", "1")
    assert (1, False) == (code, report["healthy"])
    assert "MT5_CONNECTION_POOL_SIZE" in report["reason"]
