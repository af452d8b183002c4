"""structlog set-up: JSON lines in production, a console renderer in development, secrets redacted.

All global logging configuration lives here: :func:`configure_logging` and :func:`reset_logging`.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "**********"
_SECRET_KEY = re.compile(r"pass(word|wd|phrase)?|secret|token|credential|api[_-]?key|authorization", re.I)


def is_secret_key(key: object) -> bool:
    """True for keys that name a secret (password, passwd, secret, token, ...)."""
    return isinstance(key, str) and _secret_name(key)


@functools.lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    # Every log line asks this of each of its keys, and the keys are few: the regex runs once per key.
    return _SECRET_KEY.search(key) is not None


# Values passed through as they are, by exact type (a subclass of str might be anything): most of every event.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def redact(value: Any) -> Any:
    """``value`` with every secret-named key's value replaced, at any depth."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: REDACTED if is_secret_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


@functools.lru_cache(maxsize=1024)
def _names_a_secret(keys: tuple[object, ...]) -> bool:
    # A call site logs the same keys every time: the check runs once per set of keys.
    return any(map(is_secret_key, keys))


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact secrets anywhere in the event."""
    # Most lines (every SDK call's) are plain values under keys that name no secret: they pass as they are, since
    # structlog made this dict for this one line. Anything else is walked in full.
    if not _names_a_secret(tuple(event_dict)) and _PLAIN.issuperset(map(type, event_dict.values())):
        return event_dict
    redacted: MutableMapping[str, Any] = redact(event_dict)
    return dict(redacted)


def configure_logging(fmt: Literal["json", "console"] = "json", level: str = "INFO") -> None:
    """Configure structlog once for this process; output goes to the real stderr.

    ``sys.__stderr__`` rather than ``sys.stderr``: Celery replaces ``sys.stderr`` with a proxy that would
    wrap each JSON line inside one of its own log records.
    """
    renderer: Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.WriteLoggerFactory(file=sys.__stderr__ or sys.stderr),
        cache_logger_on_first_use=False,
    )


def reset_logging() -> None:
    """Back to structlog's defaults (tests)."""
    structlog.reset_defaults()


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(logger_name=name)
    return logger
