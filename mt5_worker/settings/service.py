"""The service's side of the settings: the session pool and its retries, Redis and the Celery broker, results and
time limits, the fleet's heartbeats and routing, batching, what clients wait for, the shared queues, logs and
metrics (:class:`ServiceSettings`); then the sealing of passwords in task messages and the safeguards of trading
(:class:`CredentialsTradingSettings`). Each field's own validation lives beside it; the rules that tie fields
together live on :class:`~mt5_worker.settings.Settings`."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_serializer, field_validator
from pydantic_settings import BaseSettings, NoDecode

from mt5_worker.credentials import hide_url_password, parse_keys
from mt5_worker.settings.names import AMQP_SCHEMES, DEFAULT_REDIS_URL, REDIS_SCHEMES, SHARED_QUEUE, _alias

# MT5_ROUTING's values: where a client sends an account's requests (mt5_worker.fleet.routing).
RoutingMode = Literal["affinity", "shared", "adaptive"]


class ServiceSettings(BaseSettings):
    """The session pool, Redis and Celery, the fleet's routing, what clients wait for, logs and metrics."""

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
    routing: RoutingMode = _alias(
        "MT5_ROUTING",
        "where clients send an account's requests: affinity (its terminal's queue, bounded by load), shared (the"
        " queue every worker takes from, grouping what it reserved by account) or adaptive (its terminal's queue"
        " while that terminal's backlog is within the load bound, else the shared queue); orders always go to"
        " the account's terminal",
        "affinity",
    )
    routing_cache_seconds: float = _alias(
        "MT5_ROUTING_CACHE_SECONDS", "seconds a client reuses its reading of the live workers (>= 0)", 1.0, ge=0
    )
    routing_load_factor: float = _alias(
        "MT5_ROUTING_LOAD_FACTOR",
        "bounded-load routing: an account's request goes past its terminal to its next choice while that terminal's"
        " backlog exceeds (1 + this) x the fleet's mean (adaptive: to the shared queue); 0 = off, plain account"
        " affinity (adaptive: spill at the mean) (0-10)",
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
    result_repr_maxsize: int = _alias(
        "MT5_RESULT_REPR_MAXSIZE",
        "characters of a task's result in the worker's success log line and task-succeeded event (Flower); the "
        "result itself is whole in the result backend (16-100000)",
        128,
        ge=16,
        le=100_000,
    )
    metrics_port: int = _alias(
        "MT5_METRICS_PORT", "port of the worker's Prometheus /metrics endpoint, 0 = off (0-65535)", 0, ge=0, le=65535
    )

    metrics_addr: str = _alias(
        "MT5_METRICS_ADDR", "address the /metrics endpoint binds (0.0.0.0: every interface)", "127.0.0.1"
    )

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

    @field_validator("redis_url", "sessions_redis_url", "celery_broker_url", "celery_result_backend", "worker_id")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("celery_broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value and value.split("://", 1)[0] not in REDIS_SCHEMES + AMQP_SCHEMES:
            raise ValueError("expected a Redis (redis://, rediss://) or RabbitMQ (amqp://, amqps://) URL")
        return value

    @field_serializer("redis_url", "sessions_redis_url", "celery_broker_url", "celery_result_backend")
    def _without_password(self, url: str | None) -> str | None:
        """A Redis ACL password in a URL is a secret too: ``mt5-worker settings`` shows ``**``."""
        return hide_url_password(url) if url else url


class CredentialsTradingSettings(BaseSettings):
    """Passwords sealed in task messages, and whether and how safely orders are sent."""

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

    @field_validator("credentials_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_keys(value.get_secret_value())  # its errors name the key's position, never its value
        return value
