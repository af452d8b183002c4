"""Malformed task messages are rejected, never fatal to the worker.

Celery's consumer turns only ``InvalidTaskError``, ``ContentDisallowed`` and ``DecodeError`` raised while it
builds a request into "reject this message": anything else (a body that is JSON but not ``[args, kwargs,
embed]``, a ``timelimit`` header that is not a pair, ...) escapes to the event loop as an unrecoverable error
and stops the worker. So one message from a broken or hostile producer could take a terminal out of service.

:class:`MessageGuard`, a consumer bootstep, checks each message's shape before Celery's strategy sees it and
raises ``InvalidTaskError`` for a bad one (logged and rejected by Celery). Only protocol 2 is accepted (every
Celery client since 4.0). It also keeps message bodies out of the logs: Celery's reports of an undecodable,
invalid or unknown-task message print the body (the whole of it when undecodable: megabytes, and whatever
password it holds); here they print its size only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from celery import bootsteps
from celery.exceptions import InvalidTaskError

from mt5_worker.logging import get_logger

log = get_logger("mt5_worker.message_guard")
Handler = Callable[..., Any]
HIDDEN = "<body not logged: it may hold credentials>"


def problem(headers: Any, payload: Any) -> str | None:
    """What is wrong with a protocol 2 task message, or ``None``. Names fields, never echoes values."""
    if not isinstance(headers, Mapping) or not isinstance(headers.get("task"), str):
        return "not a protocol 2 task message (no task header)"
    if not isinstance(headers.get("id"), str):
        return "the id header is not a string"
    if not isinstance(headers.get("retries", 0) or 0, int):
        return "the retries header is not an integer"
    limits = headers.get("timelimit")
    if limits is not None and not (
        isinstance(limits, list | tuple) and len(limits) == 2 and all(_number_or_none(x) for x in limits)
    ):
        return "the timelimit header is not [hard, soft] seconds"
    if not (isinstance(payload, list | tuple) and len(payload) == 3):
        return "the body is not [args, kwargs, embed]"
    args, kwargs, embed = payload
    if not isinstance(args, list | tuple) or not isinstance(kwargs, Mapping) or not _mapping_or_none(embed):
        return "the body is not [args: list, kwargs: object, embed: object]"
    if not all(isinstance(k, str) for k in kwargs):
        return "a keyword argument name is not a string"
    return None


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _mapping_or_none(value: Any) -> bool:
    return value is None or isinstance(value, Mapping)


def guarded(handler: Handler) -> Handler:
    """``handler`` (a task strategy's message handler), refusing malformed messages first."""

    def on_message(message: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
        # Protocol 2 passes body=None: decode here (kombu caches it; a DecodeError goes to Celery's handler).
        found = problem(message.headers, message.payload if body is None else body)
        if found is not None:
            raise InvalidTaskError(f"malformed task message: {found}")
        return handler(message, body, *args, **kwargs)

    on_message.mt5_guarded = True  # type: ignore[attr-defined]
    return on_message


def on_decode_error(message: Any, exc: Exception) -> None:
    """Celery's report without the body: acknowledged, so it does not come back."""
    headers = message.headers if isinstance(message.headers, Mapping) else {}
    log.error(
        "mt5.message.undecodable",
        task=str(headers.get("task"))[:100],
        task_id=str(headers.get("id"))[:100],
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        size=len(message.body or b""),
        error=type(exc).__name__,
    )
    message.ack()


class MessageGuard(bootsteps.StartStopStep):  # type: ignore[misc]  # celery ships no type hints
    """Consumer step: wraps every task strategy once Celery has built them, before the event loop starts."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, consumer: Any) -> None:
        strategies = consumer.strategies  # the consumer's loop holds this very dict: update it in place
        for name, handler in list(strategies.items()):
            if not getattr(handler, "mt5_guarded", False):
                strategies[name] = guarded(handler)
        consumer.on_decode_error = on_decode_error
        # Celery uses the body of these reports only to log it; the loop picks these attributes up when it starts.
        for name in ("on_unknown_message", "on_unknown_task", "on_invalid_task"):
            report = getattr(type(consumer), name)
            setattr(consumer, name, lambda _body, *rest, report=report: report(consumer, HIDDEN, *rest))
