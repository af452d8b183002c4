"""The settings as one model: :class:`Settings` combines the terminal's and the service's fields, reads them from
the environment and ``.env`` (frozen once read), checks the rules that tie fields together, derives the URLs and
timings other code uses, and turns a validation error into a :class:`SettingsError` naming each bad variable
(:func:`env_name`)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from mt5_worker.credentials import hide_url_password
from mt5_worker.errors import SettingsError
from mt5_worker.settings.names import AMQP_SCHEMES, DEFAULT_REDIS_URL, URL_FIELDS
from mt5_worker.settings.service import CredentialsTradingSettings, ServiceSettings
from mt5_worker.settings.terminal import SimulatorFeedBridgeSettings, TerminalSettings


# Pydantic lists the fields of the last base first, so the groups are named in reverse: the fields, and with them the
# configuration table, ``mt5-worker settings`` and the lines of a validation error, read terminal, service,
# simulator/feed/bridge, credentials/trading.
class Settings(CredentialsTradingSettings, SimulatorFeedBridgeSettings, ServiceSettings, TerminalSettings):
    """All settings of a worker, a beat, a bridge or a client process."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True, frozen=True
    )

    @property
    def broker_is_rabbitmq(self) -> bool:
        """The broker is RabbitMQ (``amqp://``, ``amqps://``), not Redis."""
        return self.broker_url.split("://", 1)[0] in AMQP_SCHEMES

    @model_validator(mode="after")
    def _redelivery_after_longest_task(self) -> Settings:
        # A message held longer than the visibility timeout (a running task, or a retry waiting its countdown)
        # would be delivered a second time. RabbitMQ has no such timeout: it redelivers when a consumer is gone.
        if not self.broker_is_rabbitmq and self.visibility_timeout <= self.task_time_limit + self.retry_backoff_max:
            raise ValueError(
                f"MT5_BROKER_VISIBILITY_TIMEOUT ({self.visibility_timeout}) must exceed MT5_TASK_TIME_LIMIT + "
                f"MT5_CONNECTION_RETRY_BACKOFF_MAX ({self.task_time_limit} + {self.retry_backoff_max})"
            )
        return self

    @model_validator(mode="after")
    def _lease_after_longest_task(self) -> Settings:
        # An order's claim is taken over when its lease runs out: only safe once the attempt holding it can no
        # longer send, i.e. after the hard time limit has had its process killed.
        if self.trading_lease <= self.task_time_limit:
            raise ValueError(
                f"MT5_TRADING_LEASE ({self.trading_lease:g}) must exceed MT5_TASK_TIME_LIMIT ({self.task_time_limit}): "
                "an order's claim may only be taken over once the attempt holding it can no longer send"
            )
        return self

    def terminal_id(self, nodename: str) -> str:
        """This worker's terminal id: ``MT5_WORKER_ID``, else its Celery nodename (unique per host by default)."""
        return self.worker_id or nodename

    @property
    def heartbeat_ttl(self) -> float:
        """A worker whose last heartbeat is older than this has departed."""
        return 3 * self.heartbeat_interval

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or DEFAULT_REDIS_URL

    @property
    def session_store_url(self) -> str:
        return self.sessions_redis_url or self.effective_redis_url

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.effective_redis_url

    @property
    def result_backend(self) -> str:
        return self.celery_result_backend or self.effective_redis_url

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Read the environment and ``.env``; raise :class:`SettingsError` naming each bad variable."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None


def env_name(field_name: str) -> str:
    """The environment variable that sets ``field_name``."""
    alias = Settings.model_fields[field_name].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else field_name.upper()


def _describe(exc: ValidationError) -> str:
    by_env = {env_name(name): name for name in Settings.model_fields}
    lines = ["invalid settings:"]
    for error in exc.errors(include_url=False):
        loc = str(error["loc"][0]) if error["loc"] else ""
        name = by_env.get(loc, loc)  # errors name the variable, or the field when passed as a keyword
        field = Settings.model_fields.get(name)
        if field is None:
            lines.append(f"  {loc or 'settings'}: {error['msg']}")
            continue
        secret = "SecretStr" in repr(field.annotation)
        shown = str(error.get("input"))
        shown = hide_url_password(shown) if name in URL_FIELDS else shown  # a URL's password is a secret too
        got = "" if secret else f" (got {shown!r})"
        lines.append(f"  {env_name(name)}: {error['msg']}{got}; accepts: {field.description}")
    return "\n".join(lines)
