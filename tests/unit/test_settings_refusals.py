"""Every setting refuses a bad value at start-up, naming its variable and never echoing a secret's value."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mt5_worker.errors import SettingsError
from mt5_worker.settings import Settings, env_name

MARK = "\u00a7pw\u00a7"  # every generated password contains it: finding it anywhere is a leak

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

VARIABLES = sorted(env_name(field) for field in Settings.model_fields)

SECRETS = {env_name(f) for f, info in Settings.model_fields.items() if "SecretStr" in repr(info.annotation)}

env_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)

env_values = st.one_of(
    env_text,
    st.sampled_from(["", " ", "-1", "0", "1", "1e309", "nan", "inf", "-inf", "true", "null", "{}", "[]", "9" * 40]),
    st.integers().map(str),
    st.floats().map(str),
)


def load_with(values: dict[str, str]) -> SettingsError | None:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        Settings.load(_env_file=None)
        return None
    except SettingsError as exc:
        return exc
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_secret_variables_are_known() -> None:
    assert {"MT5_BRIDGE_TOKEN", "MT5_CREDENTIALS_KEY"} <= SECRETS


@PROPERTY
@given(variable=st.sampled_from(VARIABLES), value=env_values)
def test_every_setting_bad_value_is_refused_naming_its_variable(variable: str, value: str) -> None:
    if variable in SECRETS:
        value = "Sx" + MARK + value
    error = load_with({variable: value})
    if error is not None:
        message = str(error)
        assert variable in message, message
        assert MARK not in message, "a secret setting's value in its error"


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(VARIABLES), env_values, min_size=2, max_size=6))
def test_several_bad_settings_are_each_named(values: dict[str, str]) -> None:
    """Every variable whose value is bad on its own is named at once (checks across variables, like the
    visibility timeout against the task time limit, run only once each variable is valid)."""
    error = load_with(values)
    alone_bad = [name for name, value in values.items() if f"  {name}: " in str(load_with({name: value}))]
    if alone_bad:
        assert error is not None
        assert all(name in str(error) for name in alone_bad), str(error)
