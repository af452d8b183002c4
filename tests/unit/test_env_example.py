""".env.example documents exactly the variables Settings reads, and its values are the defaults."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from mt5_worker.settings import Settings, env_name

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
# An assignment, commented out ("# NAME=value") or not ("NAME=value"); description lines never match.
ASSIGNMENT = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def parse_env_example(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """Every variable the file mentions, with its value; fails on a variable listed twice."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match is None:
            continue
        name, value = match.groups()
        assert name not in found, f"{name} is listed twice in .env.example"
        found[name] = value.strip()
    return found


def settings_env_names() -> set[str]:
    return {env_name(field) for field in Settings.model_fields}


def test_env_example_lists_exactly_the_variables_settings_reads() -> None:
    documented = set(parse_env_example())
    expected = settings_env_names()
    assert documented == expected, (
        f"missing from .env.example: {sorted(expected - documented)}; "
        f"not read by Settings: {sorted(documented - expected)}"
    )


def test_env_example_has_no_active_assignment() -> None:
    """Copying .env.example to .env changes nothing: every assignment is commented out."""
    active = [line for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines() if re.match(r"^[A-Z]", line)]
    assert active == []


def test_env_example_values_are_unset_exactly_for_fields_without_default() -> None:
    values = parse_env_example()
    unset = {name for name, value in values.items() if value == ""}
    no_default = {env_name(field) for field, info in Settings.model_fields.items() if info.default in (None, ())}
    assert unset == no_default


def test_settings_load_the_uncommented_env_example(tmp_path: Path) -> None:
    """Uncomment every documented value: Settings load, and equal the defaults."""
    values = parse_env_example()
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items() if value), encoding="utf-8")

    loaded = Settings.load(_env_file=env_file)
    defaults = Settings.load(_env_file=None)

    differing = {
        field
        for field in Settings.model_fields
        if getattr(loaded, field) != getattr(defaults, field)
        # the bridge's default adapter depends on the platform; the file shows the non-Windows one
        and not (field == "bridge_backend" and sys.platform == "win32")
    }
    assert differing == set()


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_env_example_values_override_like_real_settings(tmp_path: Path, fmt: str) -> None:
    """An uncommented line in a copy of the file takes effect (the file really is a dotenv file)."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8").replace("# MT5_LOG_FORMAT=json", f"MT5_LOG_FORMAT={fmt}")
    env_file = tmp_path / ".env"
    env_file.write_text(text, encoding="utf-8")
    assert Settings.load(_env_file=env_file).log_format == fmt
