"""Settings from the environment and ``.env``, validated once at start-up.

Every field is read from the variable named by its alias (``MT5_CONNECTION_POOL_SIZE`` ...). A bad value
stops start-up with :class:`SettingsError`, whose message names the variable and what it accepts.
``.env.example`` documents every variable.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mt5_worker.credentials import hide_url_password, parse_keys
from mt5_worker.errors import SettingsError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_SCHEMES = ("redis", "rediss")
AMQP_SCHEMES = ("amqp", "amqps")
# A symbol's name on any broker: short, ASCII, a few punctuation marks ("EURUSD.m", "#AAPL", "BTC/USD").
SYMBOL_NAME = re.compile(r"[A-Za-z0-9._#+\-/@&!$]{1,64}")
# The service's shared queue: where MT5Client sends what no terminal owns (every worker consumes it).
SHARED_QUEUE = "mt5"
URL_FIELDS = ("redis_url", "sessions_redis_url", "celery_broker_url", "celery_result_backend")


def _alias(name: str, description: str, default: Any = ..., **constraints: Any) -> Any:
    return Field(default, validation_alias=AliasChoices(name), description=description, **constraints)


class Settings(BaseSettings):
    """All settings of a worker, a beat, a bridge or a client process."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True, frozen=True
    )

    backend: Literal["simulator", "metatrader5", "bridge"] = _alias(
        "MT5_BACKEND", "terminal adapter: simulator, metatrader5 (Windows) or bridge", "simulator"
    )
    terminal_path: str | None = _alias("MT5_TERMINAL_PATH", "path to terminal64.exe", None)
    terminal_portable: bool = _alias("MT5_TERMINAL_PORTABLE", "start the terminal with /portable", False)
    terminal_timeout_ms: int = _alias(
        "MT5_TERMINAL_TIMEOUT", "initialize/login timeout in ms (1-600000)", 60000, ge=1, le=600_000
    )

    pool_size: int = _alias("MT5_CONNECTION_POOL_SIZE", "sessions per worker (1-1000)", 20, ge=1, le=1000)
    idle_timeout: float = _alias(
        "MT5_CONNECTION_IDLE_TIMEOUT", "seconds before an idle session is logged out (> 0)", 300.0, gt=0
    )
    retry_limit: int = _alias("MT5_CONNECTION_RETRY_LIMIT", "retries after a transient failure (0-10)", 3, ge=0, le=10)
    retry_backoff: int = _alias(
        "MT5_CONNECTION_RETRY_BACKOFF",
        "first retry wait in whole seconds, doubled each retry (1-60)",
        1,
        ge=1,
        le=60,
    )
    retry_backoff_max: int = _alias(
        "MT5_CONNECTION_RETRY_BACKOFF_MAX", "longest retry wait in whole seconds (1-3600)", 30, ge=1, le=3600
    )

    redis_url: str | None = _alias("REDIS_URL", f"Redis for sessions and Celery (default {DEFAULT_REDIS_URL})", None)
    sessions_redis_url: str | None = _alias(
        "MT5_SESSIONS_REDIS_URL", "Redis for session bookkeeping (default: REDIS_URL)", None
    )
    celery_broker_url: str | None = _alias(
        "CELERY_BROKER_URL",
        "the broker instead of REDIS_URL: redis://, rediss://, or RabbitMQ's amqp://, amqps://",
        None,
    )
    celery_result_backend: str | None = _alias("CELERY_RESULT_BACKEND", "overrides REDIS_URL as backend", None)
    result_expires: int = _alias("MT5_RESULT_EXPIRES", "seconds task results are kept (>= 1)", 3600, ge=1)
    task_time_limit: int = _alias(
        "MT5_TASK_TIME_LIMIT", "seconds before a stuck task's process is killed and replaced (>= 1)", 180, ge=1
    )
    session_write_interval: float = _alias(
        "MT5_SESSION_WRITE_INTERVAL",
        "seconds between writes of one session's last use to Redis; 0 = every request (0-60)",
        1.0,
        ge=0,
        le=60,
    )
    idle_sweep_interval: float = _alias(
        "MT5_IDLE_SWEEP_INTERVAL", "seconds between beat's idle sweeps (> 0)", 60.0, gt=0
    )
    worker_id: str | None = Field(
        None,
        validation_alias=AliasChoices("MT5_WORKER_ID", "MT5_TERMINAL_ID"),
        description="this worker's terminal id, naming its queue mt5.terminal.<id> (default: the Celery nodename)",
    )
    heartbeat_interval: float = _alias(
        "MT5_HEARTBEAT_INTERVAL", "seconds between a worker's registry heartbeats; 3 missed: departed (> 0)", 10.0, gt=0
    )
    routing_cache_seconds: float = _alias(
        "MT5_ROUTING_CACHE_SECONDS", "seconds a client reuses its reading of the live workers (>= 0)", 1.0, ge=0
    )
    routing_load_factor: float = _alias(
        "MT5_ROUTING_LOAD_FACTOR",
        "bounded-load routing: an account's request goes past its terminal to its next choice while that terminal's"
        " backlog exceeds (1 + this) x the fleet's mean; 0 = off, plain account affinity (0-10)",
        0.1,
        ge=0,
        le=10,
    )
    routing_load_floor: int = _alias(
        "MT5_ROUTING_LOAD_FLOOR",
        "bounded-load routing: a terminal with at most this many requests waiting or running is never passed over"
        " (0-100000)",
        10,
        ge=0,
        le=100_000,
    )
    load_report_interval: float = _alias(
        "MT5_LOAD_REPORT_INTERVAL",
        "seconds between a worker's reports of its backlog to the registry, read by bounded-load routing (0.05-60)",
        0.5,
        ge=0.05,
        le=60,
    )
    visibility_timeout: int = _alias(
        "MT5_BROKER_VISIBILITY_TIMEOUT",
        "seconds before a message taken by a worker that died unacknowledged is redelivered; Redis broker only (>= 10)",
        600,
        ge=10,
    )
    batch_window: int = _alias(
        "MT5_BATCH_WINDOW", "requests a worker may regroup by account; 1 = strict FIFO (1-1000)", 50, ge=1, le=1000
    )
    batch_max_delay: float = _alias(
        "MT5_BATCH_MAX_DELAY", "seconds a request may wait for its batch to fill (0-10)", 0.1, ge=0, le=10
    )

    publish_timeout: float = _alias(
        "MT5_PUBLISH_TIMEOUT",
        "seconds MT5Client waits for an unreachable Redis before a send fails with OperationalError (0-300)",
        5.0,
        ge=0,
        le=300,
    )

    max_rows: int = _alias(
        "MT5_MAX_ROWS",
        "most rows (bars, ticks) one data request may ask for or return (1-10000000)",
        100_000,
        ge=1,
        le=10_000_000,
    )
    request_timeout: float = _alias(
        "MT5_REQUEST_TIMEOUT",
        "seconds a client waits for a result by default; a request not started by then expires unserved (> 0)",
        60.0,
        gt=0,
    )
    shared_queues: Annotated[tuple[str, ...], NoDecode] = _alias(
        "MT5_SHARED_QUEUES",
        "comma-separated queues every worker consumes besides its own; 'celery' serves plain Celery clients",
        (SHARED_QUEUE, "celery"),
    )

    log_format: Literal["json", "console"] = _alias("MT5_LOG_FORMAT", "json or console", "json")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _alias("MT5_LOG_LEVEL", "log level", "INFO")
    metrics_port: int = _alias(
        "MT5_METRICS_PORT", "port of the worker's Prometheus /metrics endpoint, 0 = off (0-65535)", 0, ge=0, le=65535
    )

    metrics_addr: str = _alias(
        "MT5_METRICS_ADDR", "address the /metrics endpoint binds (0.0.0.0: every interface)", "127.0.0.1"
    )

    simulator_accounts: Path | None = _alias(
        "MT5_SIMULATOR_ACCOUNTS", "JSON file listing the simulator's accounts (default: demo accounts)", None
    )
    # The simulator's own values stay text here (the settings know nothing of the simulator): the backend chooser
    # parses them, and a bad one stops start-up all the same (mt5_worker.backends.check_settings).
    simulator_latency: str = _alias(
        "MT5_SIMULATOR_LATENCY", "'zero', 'realistic' or a JSON object of seconds per function", "zero"
    )
    simulator_faults: str = _alias(
        "MT5_SIMULATOR_FAULTS", 'JSON object: function -> {"fail_first": N, "rate": p, "code": C, "after": false}', "{}"
    )
    simulator_seed: int | None = _alias("MT5_SIMULATOR_SEED", "seed for simulated faults", None)
    simulator_crash_every: int = _alias(
        "MT5_SIMULATOR_CRASH_EVERY",
        "the simulated terminal crashes on every N-th account_info call until initialize() (0 = never)",
        0,
        ge=0,
    )
    simulator_clock_offset: float = _alias(
        "MT5_SIMULATOR_CLOCK_OFFSET",
        "seconds added to this machine's clock to give the simulated trade servers' time; give every process of a"
        " deployment (workers, bridges, feeds) the same value so they see one market (tests and the demo pin market"
        " hours with it; +-3155760000, a century)",
        0.0,
        ge=-3_155_760_000,
        le=3_155_760_000,
    )
    simulator_tick_rate: float | None = _alias(
        "MT5_SIMULATOR_TICK_RATE",
        "mean ticks per second per symbol while it trades, in bursts; every process of a deployment must use the same"
        " (unset: each symbol's own quieter rate, evenly spread; 0.01-10000)",
        None,
        ge=0.01,
        le=10_000,
    )
    simulator_trade_store: Path | None = _alias(
        "MT5_SIMULATOR_TRADE_STORE",
        "SQLite file of the simulated trade servers, shared by every simulated terminal naming it (default:"
        " mt5-worker-simulated-trade-servers.sqlite3 in the system's temporary directory)",
        None,
    )
    simulator_disable_algo_on_switch: bool = _alias(
        "MT5_SIMULATOR_DISABLE_ALGO_ON_SWITCH",
        "the simulated terminal turns Algo Trading off when login() changes the account (order_send: 10027)",
        False,
    )
    simulator_deviations: Annotated[tuple[str, ...], NoDecode] = _alias(
        "MT5_SIMULATOR_DEVIATIONS",
        "comma-separated SDK facts the simulated terminal gets wrong on purpose, to prove that `mt5-worker conformance`"
        " can fail; tests only (the names: DEVIATIONS in simulator/specs.py)",
        (),
    )

    feed_login: int | None = _alias(
        "MT5_FEED_LOGIN", "the account whose terminal a feed reads its trade server's market data with", None
    )
    feed_password: SecretStr | None = _alias(
        "MT5_FEED_PASSWORD", "that account's password (its investor, read-only password is enough)", None
    )
    feed_server: str | None = _alias("MT5_FEED_SERVER", "the trade server a feed serves", None)
    feed_symbols: Annotated[tuple[str, ...], NoDecode] = _alias(
        "MT5_FEED_SYMBOLS", "comma-separated symbols a feed always serves (others while someone subscribes)", ()
    )
    feed_poll_interval: float = _alias(
        "MT5_FEED_POLL_INTERVAL", "seconds between a feed's polls of the terminal for new ticks (0.001-10)", 0.02,
        ge=0.001, le=10,
    )  # fmt: skip
    feed_lease: float = _alias(
        "MT5_FEED_LEASE",
        "seconds a feed's leadership lasts unless renewed; a standby feed takes over after it (0.5-300)",
        3.0,
        ge=0.5,
        le=300,
    )
    stream_retention: int = _alias(
        "MT5_STREAM_RETENTION",
        "seconds of ticks and bars the streams keep, in the trade server's time; older ones are trimmed (60-2592000)",
        3600,
        ge=60,
        le=30 * 86400,
    )

    bridge_host: str = _alias("MT5_BRIDGE_HOST", "bridge address", "127.0.0.1")
    bridge_port: int = _alias("MT5_BRIDGE_PORT", "bridge TCP port (1-65535)", 18812, ge=1, le=65535)
    bridge_token: SecretStr | None = _alias("MT5_BRIDGE_TOKEN", "shared secret bridge clients present", None)
    bridge_timeout: float = _alias("MT5_BRIDGE_TIMEOUT", "seconds per bridge call (> 0)", 120.0, gt=0)
    bridge_certfile: Path | None = _alias("MT5_BRIDGE_CERTFILE", "TLS certificate for the bridge", None)
    bridge_keyfile: Path | None = _alias("MT5_BRIDGE_KEYFILE", "TLS key for the bridge", None)
    bridge_backend: Literal["metatrader5", "simulator"] = _alias(
        "MT5_BRIDGE_BACKEND",
        "adapter the bridge serves: metatrader5 or simulator",
        "metatrader5" if sys.platform == "win32" else "simulator",
    )

    credentials_key: SecretStr | None = _alias(
        "MT5_CREDENTIALS_KEY",
        "Fernet key(s) encrypting passwords in task messages, comma-separated, the first encrypts; set: plaintext"
        " passwords are refused",
        None,
    )
    credentials_ttl: int | None = _alias(
        "MT5_CREDENTIALS_TTL", "seconds an encrypted password stays valid (>= 1; unset: no limit)", None, ge=1
    )

    trading_enabled: bool = _alias(
        "MT5_TRADING_ENABLED", "true: mt5.order_send may trade; false (default): trading tasks fail at once", False
    )
    trading_record_ttl: int = _alias(
        "MT5_TRADING_RECORD_TTL",
        "seconds an order's idempotency record (key, request hash, outcome) is kept: the at-most-once window (>= 60)",
        7 * 86400,
        ge=60,
    )
    trading_lease: float = _alias(
        "MT5_TRADING_LEASE",
        "seconds an attempt that took an order may still be sending it; then (or once its worker's process was"
        " replaced) another attempt reconciles the order; must exceed MT5_TASK_TIME_LIMIT",
        240.0,
        gt=0,
    )
    trading_settle: float = _alias(
        "MT5_TRADING_SETTLE",
        "seconds an order that left may take to show in the account's orders or history; an order whose attempt"
        " failed is not resent before this, even when reconciliation does not find it (> 0)",
        60.0,
        gt=0,
    )
    trading_presend_search: bool = _alias(
        "MT5_TRADING_PRESEND_SEARCH",
        "true (default): before a new key's first send, search the account's recent orders and deals for its tag and"
        " report an execution found instead of sending (a key resent after Redis lost its record is not doubled);"
        " false only where that risk is accepted (docs/trading.md)",
        True,
    )
    trading_presend_window: int = _alias(
        "MT5_TRADING_PRESEND_WINDOW",
        "seconds back the search before a new key's first send covers (plus a day's margin for the server's time"
        " zone); a key resent later than this, its record lost, is sent again (>= 60)",
        86400,
        ge=60,
    )

    @field_validator("feed_symbols", "simulator_deviations", mode="before")
    @classmethod
    def _symbol_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("feed_symbols")
    @classmethod
    def _symbol_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not SYMBOL_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"invalid symbol name(s) {bad}: 1-64 letters, digits or ._#+-/@&!$")
        return tuple(dict.fromkeys(value))

    @field_validator("shared_queues", mode="before")
    @classmethod
    def _queue_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [q.strip() for q in value.split(",")]
        return value

    @field_validator("shared_queues")
    @classmethod
    def _queue_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(q for q in value if q))
        if SHARED_QUEUE not in names:
            raise ValueError("must include mt5, the queue clients fall back to when no worker is registered")
        bad = [q for q in names if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,200}", q) or q.startswith("mt5.terminal.")]
        if bad:
            raise ValueError(f"invalid queue name(s) {bad}: letters, digits and _.:- only, not mt5.terminal.*")
        return names

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _empty_port_is_disabled(cls, value: Any) -> Any:
        return 0 if isinstance(value, str) and not value.strip() else value

    @field_validator("credentials_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_keys(value.get_secret_value())  # its errors name the key's position, never its value
        return value

    @field_validator("redis_url", "sessions_redis_url", "celery_broker_url", "celery_result_backend", "worker_id",
                     "feed_server")  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("celery_broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value and value.split("://", 1)[0] not in REDIS_SCHEMES + AMQP_SCHEMES:
            raise ValueError("expected a Redis (redis://, rediss://) or RabbitMQ (amqp://, amqps://) URL")
        return value

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

    @field_serializer("redis_url", "sessions_redis_url", "celery_broker_url", "celery_result_backend")
    def _without_password(self, url: str | None) -> str | None:
        """A Redis ACL password in a URL is a secret too: ``mt5-worker settings`` shows ``**``."""
        return hide_url_password(url) if url else url

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
