"""Validation of caller input, before anything touches the terminal.

Messages name the field and the problem but never echo the value: it might be a password.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError

from mt5_worker.errors import InvalidRequestError

Login = Annotated[int, Field(gt=0, le=2**63 - 1, strict=True)]  # the SDK's login is a C long (int64)
Server = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256), Field(strict=True)]
Password = Annotated[SecretStr, Field(max_length=256)]


class AccountRequest(BaseModel):
    """Which account to use: a positive int login, an optional non-empty server and password."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    login: Login
    password: Password | None = None
    server: Server | None = None

    @classmethod
    def parse(cls, login: Any, password: Any = None, server: Any = None) -> AccountRequest:
        """Validate or raise :class:`InvalidRequestError` with a message safe to log and return."""
        if isinstance(password, SecretStr):
            password = password.get_secret_value()
        if password is not None and (not isinstance(password, str) or not password):
            raise InvalidRequestError("invalid password: must be a non-empty string")
        return validate(cls, {"login": login, "password": password, "server": server})


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors())
        raise InvalidRequestError(f"invalid request: {problems}") from None
