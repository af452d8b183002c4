"""structlog set-up: JSON lines, console renderer, redaction everywhere."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from mt5_worker.logging import REDACTED, configure_logging, get_logger, redact


def test_secret_named_keys_are_redacted_at_any_depth() -> None:
    event = {
        "password": "p1",
        "nested": {"api_key": "k", "items": [{"Token": "t"}, {"ok": 1}]},
        "bridge_secret": "s",
        "secret_str": SecretStr("x"),
        "login": 5,
    }
    assert {
        "password": REDACTED,
        "nested": {"api_key": REDACTED, "items": [{"Token": REDACTED}, {"ok": 1}]},
        "bridge_secret": REDACTED,
        "secret_str": REDACTED,
        "login": 5,
    } == redact(event)


def test_json_lines_are_written_with_secrets_redacted(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    get_logger("test").info("mt5.call", function="login", login=1, password="hunter2", extra={"passwd": "x"})
    line = capfd.readouterr().err.strip().splitlines()[-1]
    event = json.loads(line)
    assert ("mt5.call", "login", REDACTED, {"passwd": REDACTED}, "info") == (
        event["event"],
        event["function"],
        event["password"],
        event["extra"],
        event["level"],
    )
    assert "hunter2" not in line


def test_a_secret_in_a_plain_named_field_is_redacted_and_plain_lines_pass_unchanged(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "INFO")
    log = get_logger("test")
    log.info("mt5.call", function="account_info", login=1, duration_ms=0.1, ok=True, server=None)
    log.info("mt5.call", function="login", login=1, detail=SecretStr("hunter2"), more=[{"Secret": "s3"}])
    plain, hidden = (json.loads(line) for line in capfd.readouterr().err.strip().splitlines()[-2:])
    assert {"function": "account_info", "login": 1, "duration_ms": 0.1, "ok": True, "server": None}.items() <= (
        plain.items()
    )
    assert (REDACTED, [{"Secret": REDACTED}]) == (hidden["detail"], hidden["more"])


def test_console_format_and_level_filtering(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("console", "WARNING")
    log = get_logger("test")
    log.info("hidden.event")
    log.warning("shown.event", token="abc123")
    err = capfd.readouterr().err
    assert "shown.event" in err
    assert "hidden.event" not in err
    assert "abc123" not in err
