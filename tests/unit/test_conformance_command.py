"""``mt5-worker conformance`` in this process, on the simulator its settings describe: the report (lines, JSON,
markdown) holds no password, login, server or account name; bad arguments and unsafe trading runs stop with exit
status 2 before anything is done."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.accounts import write_accounts
from mt5_worker.cli.main import main
from mt5_worker.conformance.facts import FACTS
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.simulator.specs import AccountSpec

pytestmark = pytest.mark.market_hours  # reads the market and trades: see docs/testing.md#time

A, B = DEMO_ACCOUNTS[0], DEMO_ACCOUNTS[1]
SECRETS = [str(A.login), A.server, A.password.get_secret_value(), A.name, str(B.login), B.password.get_secret_value()]
TRADING = ["--trading", "--i-understand-this-places-orders"]


def test_runs_as_is_on_the_simulator_and_the_report_holds_no_account_detail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MT5_BACKEND", "simulator")
    report = tmp_path / "report.md"
    assert 0 == main(["conformance", "--json", "--markdown", str(report)])
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["passed"] and len(FACTS) == len(data["checks"]) and data["about"]["simulated"] is True
    assert {"held", "documented simplification", "not run"} == {c["verdict"] for c in data["checks"]}
    assert len(data["checks"]) == len(err.strip().splitlines())  # progress, one line per check, on stderr
    page = report.read_text(encoding="utf-8")
    assert page.startswith("# mt5-worker conformance report") and "| `symbol-info-unknown` (docs/" in page
    assert [] == [s for s in SECRETS if s in out + err + page]


def test_trading_with_a_second_account_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MT5_BACKEND", "simulator")
    monkeypatch.setenv("MT5_TRADING_ENABLED", "true")
    monkeypatch.setenv("MT5_SIMULATOR_DISABLE_ALGO_ON_SWITCH", "true")
    monkeypatch.setenv("PW_A", A.password.get_secret_value())
    monkeypatch.setenv("PW_B", B.password.get_secret_value())
    status = main(["conformance", "--trading", "--i-understand-this-places-orders", "--login", str(A.login),
                   "--server", A.server, "--password-env", "PW_A", "--switch-login", str(B.login), "--switch-server",
                   B.server, "--switch-password-env", "PW_B", "--check", "comment-kept", "--check",
                   "algo-after-switch"])  # fmt: skip
    out, err = capsys.readouterr()
    assert 0 == status, out + err
    assert out.startswith("held") and "went off with the switch" in out and "passed: 2 held" in out
    assert [] == [s for s in SECRETS if s in out + err]


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--trading"], {"MT5_TRADING_ENABLED": "true"}, "add --i-understand-this-places-orders"),
        (["--trading", "--i-understand-this-places-orders"], {}, "MT5_TRADING_ENABLED=true"),
        (["--i-understand-this-places-orders"], {}, "goes with --trading"),
        (["--check", "no-such-check"], {}, "unknown check(s) ['no-such-check']"),
        (["--login", "10000001"], {}, "--login, --server and --password-env go together"),
        (["--login", "1", "--server", "S", "--password-env", "UNSET_PW"], {}, "UNSET_PW (--password-env) is not set"),
        (["--switch-login", "1", "--switch-server", "S", "--switch-password-env", "PW"], {"PW": "x"},
         "--switch-login needs --login"),
        ([], {"MT5_SIMULATOR_DEVIATIONS": "no-such-deviation"}, "MT5_SIMULATOR_DEVIATIONS: unknown deviation"),
    ],
)  # fmt: skip
def test_bad_arguments_stop_before_anything_is_done(
    args: list[str], env: dict[str, str], says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MT5_BACKEND", "simulator")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert 2 == main(["conformance", *args])
    out, err = capsys.readouterr()
    assert "" == out and says in err


def test_trading_runs_on_a_demo_account_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    live = AccountSpec(login=7654321, password="live-SECRET-pw", server="Broker-Live", trade_mode=2)
    monkeypatch.setenv("MT5_SIMULATOR_ACCOUNTS", str(write_accounts(tmp_path / "accounts.json", [live])))
    monkeypatch.setenv("MT5_BACKEND", "simulator")
    monkeypatch.setenv("MT5_TRADING_ENABLED", "true")
    assert 2 == main(["conformance", "--trading", "--i-understand-this-places-orders"])
    out, err = capsys.readouterr()
    assert "" == out and "--trading runs on a demo account only (account_info().trade_mode is 2)" in err


def test_a_refused_login_exits_3_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MT5_BACKEND", "simulator")
    monkeypatch.setenv("PW", "wrong-SECRET-pw")
    assert 3 == main(["conformance", "--login", str(A.login), "--server", A.server, "--password-env", "PW"])
    out, err = capsys.readouterr()
    assert "login() of the account failed: (-6, 'Terminal: Authorization failed')" in err
    assert [] == [s for s in ("wrong-SECRET-pw", str(A.login), A.server) if s in out + err]


def test_a_failure_that_names_the_account_is_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The service's own error names the account; the report says ``[login]`` instead."""
    monkeypatch.setenv("MT5_BACKEND", "simulator")
    monkeypatch.setenv("MT5_TRADING_ENABLED", "true")
    monkeypatch.setenv("MT5_SIMULATOR_DEVIATIONS", "comment-cut-from-start")  # reconciliation cannot find its order
    report = tmp_path / "report.md"
    status = main(["conformance", *TRADING, "--check", "reconciliation-finds", "--json", "--markdown", str(report)])
    out, err = capsys.readouterr()
    (check,) = json.loads(out)["checks"]
    assert (1, "differs") == (status, check["verdict"])
    assert "of account [login]: not found by its tag" in check["observed"]
    assert [] == [s for s in SECRETS if s in out + err + report.read_text(encoding="utf-8")]
