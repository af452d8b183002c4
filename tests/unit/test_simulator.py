"""The simulator reproduces the SDK's observable behaviour (docs/sdk-notes.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mt5_worker.backends import check_settings, simulated_terminal
from mt5_worker.errors import SettingsError
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal.port import AccountInfo, TerminalInfo
from tests.conftest import ManualClock, creds, simulator

NO_IPC = (-10004, "No IPC connection")
AUTH_FAILED = (-6, "Terminal: Authorization failed")
SUCCESS = (1, "Success")

ACCOUNT_FIELDS = [
    "login",
    "trade_mode",
    "leverage",
    "limit_orders",
    "margin_so_mode",
    "trade_allowed",
    "trade_expert",
    "margin_mode",
    "currency_digits",
    "fifo_close",
    "balance",
    "credit",
    "profit",
    "equity",
    "margin",
    "margin_free",
    "margin_level",
    "margin_so_call",
    "margin_so_so",
    "margin_initial",
    "margin_maintenance",
    "assets",
    "liabilities",
    "commission_blocked",
    "name",
    "server",
    "currency",
    "company",
]
TERMINAL_FIELDS = [
    "community_account",
    "community_connection",
    "connected",
    "dlls_allowed",
    "trade_allowed",
    "tradeapi_disabled",
    "email_enabled",
    "ftp_enabled",
    "notifications_enabled",
    "mqid",
    "build",
    "maxbars",
    "codepage",
    "ping_last",
    "community_balance",
    "retransmission",
    "company",
    "name",
    "language",
    "path",
    "data_path",
    "commondata_path",
]


def test_calls_before_initialize_fail_with_no_ipc_connection(sim: SimulatedTerminal) -> None:
    login, password, server = creds(DEMO_ACCOUNTS[0])
    assert sim.login(login, password, server) is False
    assert NO_IPC == sim.last_error()
    for function in (sim.account_info, sim.terminal_info, sim.version):
        assert function() is None
        assert NO_IPC == sim.last_error()


def test_calls_after_shutdown_fail_and_shutdown_returns_true(sim: SimulatedTerminal) -> None:
    assert sim.initialize() is True
    assert sim.shutdown() is True
    assert sim.version() is None
    assert NO_IPC == sim.last_error()


def test_success_resets_the_error_slot(sim: SimulatedTerminal) -> None:
    assert sim.version() is None
    assert sim.initialize() is True
    assert SUCCESS == sim.last_error()
    assert (500, 4755, "20 Nov 2026") == sim.version()


def test_account_info_has_the_sdk_fields_in_order(sim: SimulatedTerminal) -> None:
    sim.initialize()
    assert sim.login(*creds(DEMO_ACCOUNTS[1])) is True
    info = sim.account_info()
    assert isinstance(info, AccountInfo)
    assert ACCOUNT_FIELDS == list(info._fields)
    assert (DEMO_ACCOUNTS[1].login, DEMO_ACCOUNTS[1].server) == (info.login, info.server)
    assert ACCOUNT_FIELDS == list(info._asdict())


def test_terminal_info_has_the_sdk_fields_in_order(sim: SimulatedTerminal) -> None:
    sim.initialize()
    info = sim.terminal_info()
    assert isinstance(info, TerminalInfo)
    assert TERMINAL_FIELDS == list(info._fields)


@pytest.mark.parametrize(
    "change",
    [{"password": "wrong"}, {"login": 999}, {"server": "Other-Server"}],
    ids=["wrong-password", "unknown-login", "unknown-server"],
)
def test_refused_login_returns_false_with_auth_failed(sim: SimulatedTerminal, change: dict[str, object]) -> None:
    login, password, server = creds(DEMO_ACCOUNTS[0])
    args = {"login": login, "password": password, "server": server} | change
    sim.initialize()
    assert sim.login(args["login"], args["password"], args["server"]) is False  # type: ignore[arg-type]
    assert AUTH_FAILED == sim.last_error()
    assert sim.account_info() is None


def test_exactly_one_account_is_active(sim: SimulatedTerminal) -> None:
    sim.initialize()
    for account in DEMO_ACCOUNTS[:3]:
        assert sim.login(*creds(account)) is True
        assert account.login == sim.active_login
        assert account.login == sim.account_info().login  # type: ignore[union-attr]


def test_login_without_password_uses_only_a_saved_password(sim: SimulatedTerminal) -> None:
    login, password, server = creds(DEMO_ACCOUNTS[0])
    sim.initialize()
    assert sim.login(login) is False
    assert AUTH_FAILED == sim.last_error()
    assert sim.login(login, password, server) is True
    assert sim.login(DEMO_ACCOUNTS[1].login, *creds(DEMO_ACCOUNTS[1])[1:]) is True
    assert sim.login(login) is True
    assert login == sim.active_login


@pytest.mark.parametrize(
    ("args", "name"),
    [(("123",), "login"), ((True,), "login"), ((10000001, 123), "password"), ((10000001, "p", 5), "server")],
)
def test_wrong_argument_types_fail_with_invalid_params(sim: SimulatedTerminal, args: tuple, name: str) -> None:
    sim.initialize()
    assert sim.login(*args) is False
    assert (-2, f'Invalid "{name}" argument') == sim.last_error()


def test_initialize_with_credentials_authorises_that_account(sim: SimulatedTerminal) -> None:
    login, password, server = creds(DEMO_ACCOUNTS[2])
    assert sim.initialize(login=login, password="nope", server=server) is False
    assert AUTH_FAILED == sim.last_error()
    assert sim.initialize(login=login, password=password, server=server) is True
    assert login == sim.account_info().login  # type: ignore[union-attr]


def test_second_initialize_reconnects_rather_than_no_op(sim: SimulatedTerminal) -> None:
    assert sim.initialize() and sim.initialize()
    assert 2 == sim.calls["initialize"]


def test_terminal_restarts_on_its_last_account(sim: SimulatedTerminal) -> None:
    sim.initialize()
    sim.login(*creds(DEMO_ACCOUNTS[3]))
    sim.shutdown()
    sim.initialize()
    assert DEMO_ACCOUNTS[3].login == sim.account_info().login  # type: ignore[union-attr]


def test_fail_first_then_succeed_with_the_injected_code(sim: SimulatedTerminal) -> None:
    sim.inject_fault("initialize", fail_first=2, code=-10005)
    assert [False, False, True] == [sim.initialize(), sim.initialize(), sim.initialize()]
    assert 3 == sim.calls["initialize"]
    sim.inject_fault("version", fail_first=1, code=-10002)
    assert sim.version() is None
    assert (-10002, "IPC recv failed") == sim.last_error()


def test_fault_rate_is_deterministic_under_a_seed() -> None:
    def outcomes(seed: int) -> list[bool]:
        sim = simulator(seed=seed)
        sim.initialize()
        sim.inject_fault("version", rate=0.5)
        return [sim.version() is not None for _ in range(64)]

    assert outcomes(7) == outcomes(7)
    assert outcomes(7) != outcomes(8)
    assert 10 < outcomes(7).count(True) < 54


def test_crash_fails_every_call_until_initialized(sim: SimulatedTerminal) -> None:
    sim.initialize()
    sim.login(*creds(DEMO_ACCOUNTS[0]))
    sim.crash()
    assert sim.account_info() is None
    assert (-10001, "IPC send failed") == sim.last_error()
    assert sim.login(*creds(DEMO_ACCOUNTS[0])) is False
    assert sim.initialize() is True
    assert sim.account_info() is not None


def test_latency_profile_sleeps_per_function() -> None:
    clock = ManualClock()
    settings = Settings.load(_env_file=None, simulator_latency="realistic")
    sim = simulated_terminal(settings, sleep=clock.sleep)
    sim.initialize()
    sim.login(*creds(DEMO_ACCOUNTS[0]))
    sim.account_info()
    assert [2.0, 0.5, 0.002] == clock.sleeps


def test_faults_latency_and_seed_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT5_SIMULATOR_FAULTS", json.dumps({"login": {"fail_first": 1, "code": -10005}}))
    monkeypatch.setenv("MT5_SIMULATOR_LATENCY", json.dumps({"version": 0.25}))
    clock = ManualClock()
    sim = simulated_terminal(Settings.load(_env_file=None), sleep=clock.sleep)
    sim.initialize()
    assert sim.login(*creds(DEMO_ACCOUNTS[0])) is False
    assert (-10005, "IPC timeout") == sim.last_error()
    assert sim.login(*creds(DEMO_ACCOUNTS[0])) is True
    sim.version()
    assert [0.25] == clock.sleeps


def test_accounts_come_from_a_json_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"login": 42, "password": "s3cret-pass", "server": "X", "balance": 5.5}]))
    monkeypatch.setenv("MT5_SIMULATOR_ACCOUNTS", str(path))
    sim = simulated_terminal(Settings.load(_env_file=None))
    sim.initialize()
    assert sim.login(42, "s3cret-pass", "X") is True
    assert (42, 5.5, 5.5) == (sim.account_info().login, sim.account_info().balance, sim.account_info().equity)  # type: ignore[union-attr]
    assert sim.login(10000001, "demo-10000001", "MetaQuotes-Demo") is False


def test_a_malformed_accounts_file_names_the_variable_and_hides_values(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"login": -1, "password": "hunter2-secret", "server": "X"}]))
    with pytest.raises(SettingsError) as caught:
        check_settings(Settings.load(_env_file=None, simulator_accounts=path))
    assert "MT5_SIMULATOR_ACCOUNTS" in str(caught.value)
    assert "login" in str(caught.value)
    assert "hunter2-secret" not in str(caught.value)


def test_demo_set_has_at_least_five_accounts() -> None:
    assert len(DEMO_ACCOUNTS) >= 5
    assert len({a.login for a in DEMO_ACCOUNTS}) == len(DEMO_ACCOUNTS)


def test_injecting_into_an_unknown_function_is_refused(sim: SimulatedTerminal) -> None:
    with pytest.raises(ValueError, match="order_sent"):
        sim.inject_fault("order_sent", fail_first=1)
