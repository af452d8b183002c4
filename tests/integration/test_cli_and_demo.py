"""The `mt5-worker` console script and `make demo`'s main job, run as a user would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.env import child_env, clean_environ
from mt5_worker.cli.devstack import ManagedProcess

pytestmark = pytest.mark.integration  # starts processes of its own (subprocesses, servers), not through fixtures

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = clean_environ()
    return subprocess.run(
        [sys.executable, "-m", "mt5_worker.cli", *args], env=clean | (env or {}), capture_output=True, text=True,
        timeout=timeout, cwd=ROOT,
    )  # fmt: skip


def test_demo_runs_the_whole_stack_and_leaves_nothing_running() -> None:
    result = _run("demo", "--requests", "24")
    assert 0 == result.returncode, result.stdout + result.stderr
    out = result.stdout
    assert "started a private Redis" in out
    assert "simulated trade servers pinned to Wednesday 2026-12-02 12:00 UTC" in out  # any real weekday: one market
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
    for command in ("settings", "worker"):  # the simulator's own values: checked by the backend chooser
        result = _run(command, env={"MT5_SIMULATOR_FAULTS": '{"login": {"rate": 2}}'})
        assert 2 == result.returncode
        assert "MT5_SIMULATOR_FAULTS" in result.stderr and "less than or equal to 1" in result.stderr


def test_settings_prints_effective_values_with_secrets_hidden() -> None:
    result = _run("settings", env={"MT5_BRIDGE_TOKEN": "tok-SECRET-1", "MT5_CONNECTION_POOL_SIZE": "7"})
    assert 0 == result.returncode
    assert '"pool_size": 7' in result.stdout
    assert "tok-SECRET-1" not in result.stdout
    assert "" == result.stderr  # `python -m mt5_worker.cli` runs the command once, with no runpy warning
    older = subprocess.run([sys.executable, "-m", "mt5_worker.cli.main", "settings"], env=clean_environ(),
                           capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert 0 == older.returncode and '"pool_size": 20' in older.stdout  # the older spelling still runs it


def test_the_public_api_lists_its_names_and_imports_no_celery() -> None:
    code = (
        "import sys, mt5_worker; assert 'celery' not in sys.modules, 'import mt5_worker pulled in Celery';"
        "missing = [n for n in mt5_worker.__all__ if not hasattr(mt5_worker, n)]; assert not missing, missing;"
        "print(len(mt5_worker.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert 0 == done.returncode, done.stderr
    assert int(done.stdout) >= 15


def test_celery_finds_the_app_by_the_package_name(redis_url: str, tmp_path: Path) -> None:
    """``celery -A mt5_worker worker`` (Celery's convention for a package: its ``app`` attribute) serves, and
    ``celery -A mt5_worker.app`` (the first releases' path) reaches it; ``import mt5_worker`` still loads no Celery."""
    env = child_env({"REDIS_URL": redis_url})
    argv = [sys.executable, "-m", "celery", "-A", "mt5_worker", "worker", "--pool=solo", "-n", "pkg@test", "-l", "INFO"]
    worker = ManagedProcess("pkg-worker", argv, env, tmp_path, cwd=tmp_path).start()
    try:
        worker.wait_for_log("ready.", timeout=60)
        ping = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "mt5_worker.app", "inspect", "ping", "-d", "pkg@test",
             "--json"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
        assert 0 == ping.returncode, ping.stdout + ping.stderr
        assert {"ok": "pong"} == json.loads(ping.stdout)["pkg@test"]
    finally:
        worker.stop()
