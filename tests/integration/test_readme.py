"""The Python examples of README.md and docs/api.md run as written (on the simulator)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.celery_fixtures import Stack
from tests.unit.test_readme_examples import API_DOC, python_blocks

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time


def test_client_examples_run_against_a_real_worker(redis_url: str, tmp_path: Path) -> None:
    """The three clients of "Calling it from a web app", as written, in a fresh process (settings from the env)."""
    stack = Stack(redis_url, tmp_path)
    try:
        stack.worker("w1")
        (script,) = python_blocks("## Calling it from a web app")
        script = script.replace("redis://127.0.0.1:6379/0", redis_url)  # the plain client names its URLs
        env = stack.env | {"MT5_LOG_LEVEL": "WARNING"}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert 0 == done.returncode, done.stderr
        assert ["10000001", "25000.0 USD", "10000002", "-6 Terminal: Authorization failed", "10000001"] == (
            done.stdout.splitlines()
        )
    finally:
        stack.close()


def test_the_market_data_example_runs_against_a_real_worker(redis_url: str, tmp_path: Path) -> None:
    """docs/api.md's market-data example, as written, in a fresh process."""
    stack = Stack(redis_url, tmp_path)
    try:
        stack.worker("w1")
        (script,) = python_blocks("## The tasks", API_DOC)
        env = stack.env | {"MT5_LOG_LEVEL": "WARNING"}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert 0 == done.returncode, done.stderr
        market_line, account_line = done.stdout.splitlines()
        mean_close, ask, majors = market_line.split(" ", 2)  # EURUSD's mean close, its ask, the symbols
        assert 1.0 < float(mean_close) < 1.3 and 1.0 < float(ask) < 1.3, done.stdout
        assert "'EURUSD'" in majors and "JPY" not in majors
        profit, margin_positive, retcode, listed = account_line.split()
        assert (True, "True", "True") == (abs(float(profit)) >= 0, margin_positive, listed), account_line
        assert retcode.lstrip("-").isdigit()
    finally:
        stack.close()
