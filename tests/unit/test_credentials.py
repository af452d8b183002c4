"""Passwords in task messages (credentials.py): sealed with the key, opened by the worker, refusals typed and never
echoing the value, rotation, expiry, bad keys stopping start-up."""

from __future__ import annotations

import json
import time

import pytest
from cryptography.fernet import Fernet

from mt5_worker.credentials import SEALED, open_credential, seal, seal_credentials
from mt5_worker.errors import CredentialsError, InvalidRequestError, SettingsError
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS

A, B = DEMO_ACCOUNTS[:2]

KEY, OLD_KEY, FOREIGN_KEY = (Fernet.generate_key().decode() for _ in range(3))


def settings(key: str | None = None, **overrides: object) -> Settings:
    return Settings.load(_env_file=None, credentials_key=key, **overrides)


def test_sealed_password_opens_with_the_key_and_is_not_readable() -> None:
    kwargs = seal_credentials({"login": A.login, "password": "s3cret-pw", "server": A.server}, settings(KEY))
    assert (A.login, A.server, [SEALED]) == (kwargs["login"], kwargs["server"], list(kwargs["password"]))
    assert "s3cret-pw" not in json.dumps(kwargs)
    assert "s3cret-pw" == open_credential(kwargs["password"], settings(KEY))


def test_without_a_key_credentials_travel_and_open_unchanged() -> None:
    kwargs = {"login": A.login, "password": "pw", "server": A.server}
    assert kwargs == seal_credentials(kwargs, settings())
    assert "pw" == open_credential("pw", settings())


def test_missing_and_ill_typed_passwords_pass_through_to_request_validation() -> None:
    assert {"login": 1, "password": None} == seal_credentials({"login": 1, "password": None}, settings(KEY))
    for value in (None, 42, ["pw"], {"not": "sealed"}):
        assert value == open_credential(value, settings(KEY))


def test_rotation_the_first_key_seals_every_key_opens() -> None:
    rotated = settings(f"{KEY},{OLD_KEY}")
    assert "old" == open_credential(seal("old", OLD_KEY), rotated)
    assert "new" == open_credential(seal_credentials({"password": "new"}, rotated)["password"], settings(KEY))


@pytest.mark.parametrize(
    ("value", "worker", "expected"),
    [
        ("plain-pw", settings(KEY), "plaintext password refused"),
        (seal("plain-pw", FOREIGN_KEY), settings(KEY), "does not decrypt"),
        ({SEALED: "gAAAAA-not-a-token-plain-pw"}, settings(KEY), "does not decrypt"),
        ({SEALED: 12345}, settings(KEY), "does not decrypt"),
        (seal("plain-pw", KEY), settings(), "has no MT5_CREDENTIALS_KEY"),
    ],
    ids=["plaintext-with-key", "wrong-key", "garbage-token", "non-string-token", "sealed-without-key"],
)
def test_refusals_are_typed_permanent_and_never_echo_the_value(value: object, worker: Settings, expected: str) -> None:
    with pytest.raises(CredentialsError, match=expected) as caught:
        open_credential(value, worker)
    assert isinstance(caught.value, InvalidRequestError)  # permanent: never retried, code -2
    text = f"{caught.value!r} {caught.value}"
    assert "plain-pw" not in text
    if isinstance(value, dict) and isinstance(value[SEALED], str):
        assert value[SEALED] not in text


def test_an_expired_token_is_refused_with_a_ttl() -> None:
    old = Fernet(KEY.encode()).encrypt_at_time(b"pw", int(time.time()) - 120).decode()
    assert "pw" == open_credential({SEALED: old}, settings(KEY))  # no TTL: no age limit
    with pytest.raises(CredentialsError, match="MT5_CREDENTIALS_TTL"):
        open_credential({SEALED: old}, settings(KEY, credentials_ttl=60))


@pytest.mark.parametrize(
    "bad",
    ["not-a-key", KEY[:-4], f"{KEY},{KEY[:20]}", "é" * 44, "Zm9v" * 11],
    ids=["not-a-key", "truncated", "second-truncated", "not-ascii", "wrong-length"],  # the same in every process
)
def test_a_bad_key_stops_start_up_naming_the_variable_never_the_value(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MT5_CREDENTIALS_KEY", bad)
    with pytest.raises(SettingsError, match=r"MT5_CREDENTIALS_KEY.*not a Fernet key.*generate one") as caught:
        Settings.load(_env_file=None)
    assert bad not in str(caught.value)
    assert KEY[:20] not in str(caught.value)
