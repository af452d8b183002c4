"""The names the settings share: the default Redis, the URL schemes a broker may use, the shape of a symbol's
name, the service's shared queue, the fields that hold URLs, and ``_alias``, which declares a field read from
one environment variable."""

from __future__ import annotations

import re
from typing import Any

from pydantic import AliasChoices, Field

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
