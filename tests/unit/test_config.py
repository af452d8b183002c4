"""Settings: environment and .env, validation that names the variable and its range."""

from __future__ import annotations

from pathlib import Path

import pytest

from mt5_worker.backends import check_settings
from mt5_worker.errors import SettingsError
from mt5_worker.settings import DEFAULT_REDIS_URL, Settings


def test_defaults_match_the_documented_product() -> None:
    s = Settings.load(_env_file=None)
    assert (20, 300.0, 3, 1, 30, "simulator", 60.0) == (
        s.pool_size, s.idle_timeout, s.retry_limit, s.retry_backoff, s.retry_backoff_max, s.backend,
        s.idle_sweep_interval,
    )  # fmt: skip
    assert (DEFAULT_REDIS_URL, DEFAULT_REDIS_URL) == (s.broker_url, s.result_backend)


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT5_CONNECTION_POOL_SIZE", "7")
    monkeypatch.setenv("MT5_CONNECTION_IDLE_TIMEOUT", "2.5")
    monkeypatch.setenv("MT5_CONNECTION_RETRY_LIMIT", "0")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/1")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6390/2")
    s = Settings.load(_env_file=None)
    assert (7, 2.5, 0) == (s.pool_size, s.idle_timeout, s.retry_limit)
    assert ("redis://127.0.0.1:6390/1", "redis://127.0.0.1:6390/2") == (s.broker_url, s.result_backend)


def test_values_come_from_a_dot_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("MT5_CONNECTION_POOL_SIZE=3\nMT5_LOG_FORMAT=console\n")
    monkeypatch.chdir(tmp_path)
    s = Settings.load()
    assert (3, "console") == (s.pool_size, s.log_format)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MT5_CONNECTION_POOL_SIZE", "0", "greater than or equal to 1"),
        ("MT5_CONNECTION_POOL_SIZE", "1001", "(1-1000)"),
        ("MT5_CONNECTION_POOL_SIZE", "twenty", "valid integer"),
        ("MT5_CONNECTION_IDLE_TIMEOUT", "0", "greater than 0"),
        ("MT5_CONNECTION_RETRY_LIMIT", "11", "(0-10)"),
        ("MT5_BACKEND", "mt4", "simulator"),
        ("MT5_SIMULATOR_LATENCY", "fast", "realistic"),
        ("MT5_SIMULATOR_FAULTS", '{"login": {"rate": 2}}', "less than or equal to 1"),
        ("MT5_LOG_FORMAT", "xml", "json"),
    ],
)
def test_an_invalid_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:  # what a worker checks before it starts (the backend's values too)
        check_settings(Settings.load(_env_file=None))
    message = str(caught.value)
    assert variable in message
    assert expected in message


def test_the_simulators_values_are_checked_only_for_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT5_SIMULATOR_LATENCY", "fast")
    settings = Settings.load(_env_file=None, backend="bridge")  # the settings themselves know nothing of it
    check_settings(settings)
    with pytest.raises(SettingsError, match="MT5_SIMULATOR_LATENCY"):
        check_settings(settings, "simulator")  # a bridge serving the simulator


def test_a_bad_secret_is_reported_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(_env_file=None, bridge_token=12345678)
    assert "MT5_BRIDGE_TOKEN" in str(caught.value)
    assert "12345678" not in str(caught.value)


def test_selecting_the_real_sdk_off_windows_says_what_to_use_instead() -> None:
    from mt5_worker.manager import MT5ConnectionManager

    with pytest.raises(SettingsError, match=r"MT5_BACKEND=simulator.*MT5_BACKEND=bridge"):
        MT5ConnectionManager.from_settings(Settings.load(_env_file=None, backend="metatrader5"))
