"""The `mt5-worker` console script and `make demo`'s main job, run as a user would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.env import clean_environ
from mt5_worker.cli import worker_command

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = clean_environ()
    return subprocess.run(
        [sys.executable, "-m", "mt5_worker.cli.main", *args], env=clean | (env or {}), capture_output=True, text=True,
        timeout=timeout, cwd=ROOT,
    )  # fmt: skip


def test_demo_runs_the_whole_stack_and_leaves_nothing_running() -> None:
    result = _run("demo", "--requests", "24")
    assert 0 == result.returncode, result.stdout + result.stderr
    out = result.stdout
    assert "started a private Redis" in out
    assert "24 results" in out and "every one for the account requested" in out
    assert "  results: 24/24\n" in out and "\r" not in out  # progress: plain lines when stdout is not a TTY
    assert re.search(r"SDK logins \d+ .* reuses of the active session \d+", out)
    assert "all sessions logged out" in out and "initialized=True" in out
    assert "nothing left running" in out
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", out)]
    assert pids
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} left running"
    redis_port = re.search(r"redis://127\.0\.0\.1:(\d+)", out)
    assert redis_port
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"--port {redis_port.group(1)}" not in ps


def test_invalid_settings_stop_start_up_naming_the_variable() -> None:
    for command in ("settings", "worker", "demo"):
        result = _run(command, env={"MT5_CONNECTION_POOL_SIZE": "0"})
        assert 2 == result.returncode
        assert "MT5_CONNECTION_POOL_SIZE" in result.stderr and "(1-1000)" in result.stderr
        assert "Traceback" not in result.stderr


def test_settings_prints_effective_values_with_secrets_hidden() -> None:
    result = _run("settings", env={"MT5_BRIDGE_TOKEN": "tok-SECRET-1", "MT5_CONNECTION_POOL_SIZE": "7"})
    assert 0 == result.returncode
    assert '"pool_size": 7' in result.stdout
    assert "tok-SECRET-1" not in result.stdout


@pytest.mark.parametrize(("platform", "pool"), [("linux", "--pool=prefork"), ("win32", "--pool=solo")])
def test_worker_defaults_to_prefork_on_linux_and_solo_on_windows(platform: str, pool: str) -> None:
    argv = worker_command(["-n", "x@%h"], platform=platform)
    assert pool in argv and "--concurrency=1" in argv and argv[-2:] == ["-n", "x@%h"]
    # as the test and demo workers run (devstack): gossip would send every worker every other worker's heartbeats
    assert {"--without-gossip", "--without-mingle"} <= set(argv)


def test_the_public_api_lists_its_names_and_imports_no_celery() -> None:
    code = (
        "import sys, mt5_worker; assert 'celery' not in sys.modules, 'import mt5_worker pulled in Celery';"
        "missing = [n for n in mt5_worker.__all__ if not hasattr(mt5_worker, n)]; assert not missing, missing;"
        "print(len(mt5_worker.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert 0 == done.returncode, done.stderr
    assert int(done.stdout) >= 15
