"""`mt5-worker call` against a real worker: JSON results, typed errors as exit codes, no password printed;
the `--help` texts; the progress line of long operations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.env import clean_environ
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.integration  # starts processes of its own (subprocesses, servers), not through fixtures

A = DEMO_ACCOUNTS[0]
WRONG = "wrong-SECRET-pw-0815"


def mt5_worker(
    *args: str, redis_url: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script as a user runs it (in a directory without a .env)."""
    clean = clean_environ()
    return subprocess.run(
        [sys.executable, "-m", "mt5_worker.cli", *args], env=clean | {"REDIS_URL": redis_url} | (env or {}),
        input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip


def test_call_prints_results_and_typed_errors_and_never_the_password(simulator_stack: Stack, tmp_path: Path) -> None:
    worker = simulator_stack.worker()

    def call(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return mt5_worker("call", *args, redis_url=simulator_stack.redis_url, cwd=tmp_path, **kw)  # type: ignore[arg-type]

    password = A.password.get_secret_value()
    ok = call("account_info", "--login", str(A.login), "--server", A.server, "--password-env", "PW",
              env={"PW": password})  # fmt: skip
    assert 0 == ok.returncode, ok.stderr
    info = json.loads(ok.stdout)
    assert (A.login, A.server, A.balance) == (info["login"], info["server"], info["balance"])
    assert password not in ok.stdout + ok.stderr

    pooled = call("account_info", "--login", str(A.login))  # a worker holds the session: no password needed
    assert 0 == pooled.returncode and A.login == json.loads(pooled.stdout)["login"]

    refused = call("login", "--login", str(DEMO_ACCOUNTS[1].login), "--server", DEMO_ACCOUNTS[1].server,
                   "--password-stdin", stdin=WRONG + "\n")  # fmt: skip
    assert 1 == refused.returncode
    error = json.loads(refused.stdout)["error"]
    assert ("AuthorizationError", -6, "Terminal: Authorization failed") == (
        error["type"],
        error["code"],
        error["message"],
    )
    assert "AuthorizationError -6: Terminal: Authorization failed" in refused.stderr
    assert WRONG not in refused.stdout + refused.stderr and "Traceback" not in refused.stderr

    invalid = call("account_info", "--login", "424242")  # unknown account, no password: rejected by the worker
    assert 1 == invalid.returncode and "InvalidRequestError" == json.loads(invalid.stdout)["error"]["type"]

    health = call("health")
    assert 0 == health.returncode, health.stderr
    assert json.loads(health.stdout)["initialized"] is True
    stats = call("pool_stats", "--worker", worker.nodename)
    assert 0 == stats.returncode, stats.stderr
    assert {A.login} <= {s["login"] for s in json.loads(stats.stdout)["pool"]}
    assert password not in simulator_stack.logs() and WRONG not in simulator_stack.logs()


def test_call_without_a_worker_exits_3_after_the_timeout(redis_url: str, tmp_path: Path) -> None:
    result = mt5_worker("call", "health", "--timeout", "1", redis_url=redis_url, cwd=tmp_path)
    assert 3 == result.returncode
    assert "no result within 1 s" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["login", "--login", "5001", "--server", "Demo"], {}, "needs --server and a password"),
        (["account_info", "--login", "5001", "--password-env", "NOT_SET_ANYWHERE"], {}, "NOT_SET_ANYWHERE"),
        (["health", "--login", "5001"], {}, "takes no account"),
        (["account_info", "--login", "5001"], {"MT5_CONNECTION_POOL_SIZE": "0"}, "MT5_CONNECTION_POOL_SIZE"),
    ],
)
def test_bad_arguments_exit_2_before_sending_anything(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    unreachable = "redis://127.0.0.1:1/0"  # nothing may be sent: a send would hang or fail with exit 3
    result = mt5_worker("call", *args, redis_url=unreachable, cwd=tmp_path, env=env)
    assert 2 == result.returncode, result.stdout + result.stderr
    assert message in result.stderr


def test_password_is_never_accepted_on_the_command_line(tmp_path: Path) -> None:
    result = mt5_worker("call", "login", "--password", "x", redis_url="redis://127.0.0.1:1/0", cwd=tmp_path)
    assert 2 == result.returncode and "unrecognized arguments" in result.stderr


@pytest.mark.parametrize("command", [[], ["call"], ["demo"], ["settings"]])
def test_help_explains_each_command_with_examples(command: list[str], tmp_path: Path) -> None:
    result = mt5_worker(*command, "--help", redis_url="redis://127.0.0.1:1/0", cwd=tmp_path)
    assert 0 == result.returncode
    assert "examples:" in result.stdout and "mt5-worker " in result.stdout
    if not command:  # the overview names every subcommand with a one-line description
        for sub in ("demo", "worker", "beat", "bridge", "settings", "call", "health"):
            assert f"\n    {sub} " in result.stdout
