"""``mt5-worker conformance`` as a user runs it, in a process of its own: on the simulator as is, through a real
bridge process (with the trading checks), through the real adapter beside a stand-in ``MetaTrader5`` module; a
deviation of the simulator fails its check with a clear line and exit status 1; no report (lines, JSON, markdown,
stderr) holds a password, a login, a server or an account name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.env import CLOCK_OFFSET, REPO, child_env
from harness.sdk_standin import STANDIN_PATH
from mt5_worker.conformance.facts import FACTS
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.bridge_fixtures import BridgeProcess

pytestmark = [pytest.mark.integration, pytest.mark.market_hours]  # starts processes; reads the market and trades

A, B = DEMO_ACCOUNTS[0], DEMO_ACCOUNTS[1]
SECRETS = [str(A.login), A.server, A.password.get_secret_value(), A.name, str(B.login), B.password.get_secret_value()]
TRADING = ["--trading", "--i-understand-this-places-orders"]
BESIDE = {f.name for f in FACTS if f.needs}  # they call the module itself: not through a bridge


def conformance(*args: str, env: dict[str, str], cwd: Path, pinned: bool = True) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own; ``pinned``: its simulator on the suite's pinned clock, else on its own
    (as a user runs it: it pins an in-process simulator itself)."""
    environ = {k: v for k, v in child_env(env).items() if pinned or k != CLOCK_OFFSET}
    return subprocess.run(
        [sys.executable, "-m", "mt5_worker.cli", "conformance", *args], env=environ, cwd=cwd,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def verdicts(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {check["name"]: check["verdict"] for check in json.loads(done.stdout)["checks"]}


def no_account_detail(*texts: str) -> None:
    assert [] == [secret for secret in SECRETS if any(secret in text for text in texts)]


def test_runs_as_is_on_the_simulator_and_writes_a_redacted_report(tmp_path: Path) -> None:
    """Without MT5_SIMULATOR_CLOCK_OFFSET, as a user runs it: the command pins its simulator to a trading hour."""
    report = tmp_path / "conformance.md"
    done = conformance("--markdown", str(report), env={"MT5_BACKEND": "simulator"}, cwd=tmp_path, pinned=False)
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "the simulated trade servers pinned to Wednesday 2026-12-02 12:00 UTC" in done.stderr
    lines = done.stdout.splitlines()
    assert len(FACTS) + 1 == len(lines) and lines[-1].startswith("passed: ")
    unknown = "symbol-info-unknown: symbol_info('NO.SUCH.SYMBOL.X') -> None, (-4, 'Terminal: Not found')"
    assert [f"{'held':<27} {unknown}"] == [line for line in lines if unknown in line]
    page = report.read_text(encoding="utf-8")
    assert "| trade server's clock - this machine's | " in page  # the offset, read from the last tick
    no_account_detail(done.stdout, done.stderr, page)


def test_passes_through_a_bridge_process_with_the_trading_checks(
    bridge_factory: Callable[..., BridgeProcess], tmp_path: Path
) -> None:
    bridge = bridge_factory(env={"MT5_SIMULATOR_DISABLE_ALGO_ON_SWITCH": "true"})  # with simulator control
    env = {"MT5_BACKEND": "bridge", "MT5_BRIDGE_HOST": bridge.host, "MT5_BRIDGE_PORT": str(bridge.port),
           "MT5_BRIDGE_TOKEN": bridge.token, "MT5_TRADING_ENABLED": "true"}  # fmt: skip
    done = conformance(*TRADING, "--json", env=env, cwd=tmp_path)
    assert 0 == done.returncode, done.stdout + done.stderr
    found = verdicts(done)
    assert BESIDE == {name for name, verdict in found.items() if verdict == "not run"}
    assert {"held"} == {found[f.name] for f in FACTS if f.trading and not f.needs}
    switch = next(c for c in json.loads(done.stdout)["checks"] if c["name"] == "algo-after-switch")
    assert "went off with the switch" in switch["observed"] and [] == json.loads(done.stdout)["notes"]  # pressed again
    no_account_detail(done.stdout, done.stderr)


def test_passes_through_the_real_adapter_beside_a_standin_metatrader5_module(tmp_path: Path) -> None:
    path = os.pathsep.join([str(STANDIN_PATH), str(REPO)])  # `import MetaTrader5` finds the stand-in
    env = {"MT5_BACKEND": "metatrader5", "MT5_TRADING_ENABLED": "true", "PW": A.password.get_secret_value(),
           "PW2": B.password.get_secret_value(), "PYTHONPATH": path}  # fmt: skip
    accounts = ["--login", str(A.login), "--server", A.server, "--password-env", "PW", "--switch-login", str(B.login),
                "--switch-server", B.server, "--switch-password-env", "PW2"]  # fmt: skip
    done = conformance(*accounts, *TRADING, "--json", env=env, cwd=tmp_path)
    assert 0 == done.returncode, done.stdout + done.stderr
    assert {"held", "documented simplification"} == set(verdicts(done).values())  # every check ran
    no_account_detail(done.stdout, done.stderr)


def test_a_deviation_fails_its_check_with_a_clear_line_and_exit_status_1(tmp_path: Path) -> None:
    env = {"MT5_BACKEND": "simulator", "MT5_SIMULATOR_DEVIATIONS": "unknown-symbol-code"}
    done = conformance(env=env, cwd=tmp_path)
    assert 1 == done.returncode, done.stdout + done.stderr
    failing = [line for line in done.stdout.splitlines() if line.startswith(("DIFFERS", "COULD NOT CHECK"))]
    assert [
        "DIFFERS                     symbol-info-unknown: expected `symbol_info` of an unknown symbol: `None`, "
        "`(-4, 'Terminal: Not found')`; the terminal: symbol_info('NO.SUCH.SYMBOL.X') -> None, "
        "(-1, 'Terminal: Call failed')"
    ] == failing
    assert done.stdout.splitlines()[-1].startswith("FAILED: ")


def test_a_real_terminal_needs_an_account(tmp_path: Path) -> None:
    """Beside a module that is not the simulator, nothing is guessed: no --login is a usage error."""
    fake = tmp_path / "fake" / "MetaTrader5"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(_NOT_SIMULATED, encoding="utf-8")
    env: dict[str, Any] = {"MT5_BACKEND": "metatrader5",
                           "PYTHONPATH": os.pathsep.join([str(fake.parent), str(STANDIN_PATH), str(REPO)])}  # fmt: skip
    done = conformance(env=env, cwd=tmp_path)
    assert 2 == done.returncode and "on a real terminal give --login, --server and --password-env" in done.stderr


# A MetaTrader5 module whose terminal does not call itself the simulator: the stand-in, renamed.
_NOT_SIMULATED = """\
from harness.sdk_standin import from_settings
_module = from_settings()
globals().update({k: v for k, v in vars(_module).items() if not k.startswith("__")})
_info = terminal_info
def terminal_info():
    info = _info()
    return None if info is None else type(info)((*info[:17], "MetaTrader 5", *info[18:]))
"""
