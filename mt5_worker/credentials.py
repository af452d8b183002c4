"""End-to-end encryption of credential fields in task messages (Fernet, ``MT5_CREDENTIALS_KEY``).

kombu's Redis transport only base64-encodes message bodies: a plaintext password in a queued task is readable
by anyone who can read Redis. With a key configured, the client seals each credential field as
``{"fernet": "<token>"}`` and the worker opens it just before use; the worker then refuses plaintext.
Several comma-separated keys allow rotation: the first seals, every one opens.

Errors never contain the value or the token: both would leak the secret (or let it be replayed).
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from mt5_worker.errors import CredentialsError

SEALED = "fernet"  # a sealed credential travels as {"fernet": "<token>"}
CREDENTIAL_FIELDS = ("password",)
KEY_HELP = (
    '32 url-safe base64-encoded bytes; generate one with: python -c "from cryptography.fernet import Fernet;'
    ' print(Fernet.generate_key().decode())"'
)


def parse_keys(text: str) -> list[str]:
    """The keys in ``text``; ``ValueError`` saying which one (by position) is malformed, never its value."""
    keys = [k.strip() for k in text.split(",")]
    for position, key in enumerate(keys, 1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (UnicodeEncodeError, binascii.Error):
            raw = b""
        if len(raw) != 32 or not key:
            raise ValueError(f"key #{position} is not a Fernet key ({KEY_HELP})")
    return keys


class CredentialSettings(Protocol):
    """What sealing and opening credentials read from the settings (``Settings`` has both)."""

    @property
    def credentials_key(self) -> SecretStr | None: ...

    @property
    def credentials_ttl(self) -> int | None: ...


@lru_cache(maxsize=8)
def _cipher(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in parse_keys(keys)])


def _key_of(settings: CredentialSettings) -> str | None:
    key = settings.credentials_key
    return key.get_secret_value() if key is not None else None


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}


def seal(value: str, keys: str) -> dict[str, str]:
    """``value`` encrypted with the first of ``keys`` (comma-separated Fernet keys)."""
    return {SEALED: _cipher(keys).encrypt(value.encode("utf-8")).decode("ascii")}


def seal_credentials(kwargs: dict[str, Any], settings: CredentialSettings) -> dict[str, Any]:
    """``kwargs`` with each credential string sealed, when ``MT5_CREDENTIALS_KEY`` is set; else unchanged."""
    keys = _key_of(settings)
    if keys is None:
        return kwargs
    return {k: seal(v, keys) if k in CREDENTIAL_FIELDS and isinstance(v, str) else v for k, v in kwargs.items()}


def open_credential(value: Any, settings: CredentialSettings, field: str = "password") -> Any:
    """The plaintext of a sealed credential; the worker's side of :func:`seal_credentials`.

    With a key: a sealed value must open (else :class:`CredentialsError`) and a plaintext string is refused.
    Without a key: plaintext passes as before and a sealed value is refused. Anything else (``None``, wrong
    types) passes through unchanged, for the request validation to reject with its usual message.
    """
    keys = _key_of(settings)
    if is_sealed(value):
        if keys is None:
            raise CredentialsError(f"{field} is encrypted but this worker has no MT5_CREDENTIALS_KEY to decrypt it")
        token = value[SEALED]
        try:
            if not isinstance(token, str):
                raise InvalidToken
            return _cipher(keys).decrypt(token.encode("ascii"), ttl=settings.credentials_ttl).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise CredentialsError(
                f"{field} does not decrypt with this worker's MT5_CREDENTIALS_KEY: wrong key, altered, or older"
                " than MT5_CREDENTIALS_TTL"
            ) from None
    if keys is not None and isinstance(value, str):
        raise CredentialsError(
            f"plaintext {field} refused: this worker requires credentials encrypted with MT5_CREDENTIALS_KEY"
            " (MT5Client does it when the same key is set)"
        )
    return value


def hide_url_password(url: str) -> str:
    """``url`` with the password in its user info (a Redis ACL password) replaced by ``**``."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:  # unparseable (a bad port, say): nothing to recognise, so say nothing of it
        return "<unparseable URL>" if "@" in url else url
    if not has_password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:**@{hostport}").geturl()
