"""Malformed task messages are rejected with a result, never fatal to the worker.

Celery's consumer turns only ``InvalidTaskError``, ``ContentDisallowed`` and ``DecodeError`` raised while it
builds a request into "reject this message": anything else (a body that is JSON but not ``[args, kwargs,
embed]``, a ``timelimit`` header that is not a pair, ...) escapes to the event loop as an unrecoverable error
and stops the worker. So one message from a broken or hostile producer could take a terminal out of service.

:class:`MessageGuard`, a consumer bootstep, checks each message's shape before Celery's strategy sees it and
raises :class:`MalformedMessage` (an ``InvalidTaskError``) for a bad one. Both of Celery's task message
protocols are accepted: protocol 2 (``[args, kwargs, embed]`` with the task in the headers, every Celery client
since 4.0) and protocol 1 (one JSON object holding ``task``, ``id``, ``args``, ``kwargs``, ..., which some
clients in other languages still send).

A rejected message whose task id can be read (a string, from the headers or a protocol 1 body) gets a FAILURE
result, ``InvalidRequestError("malformed task message: <what is wrong>")``, so its caller does not wait
forever. The guard also keeps message bodies out of the logs: Celery's reports of an undecodable, invalid or
unknown-task message print the body (the whole of it when undecodable: megabytes, and whatever password it
holds) and the headers (whose ``argsrepr``/``kwargsrepr`` a plain client fills with the arguments); here they
print the body's size only and the headers without those two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from celery import bootsteps
from celery.exceptions import InvalidTaskError
from celery.utils.time import maybe_iso8601
from kombu.exceptions import ContentDisallowed

from mt5_worker.errors import InvalidRequestError
from mt5_worker.logging import get_logger, redact
from mt5_worker.worker.task_metrics import count_rejected

log = get_logger("mt5_worker.worker.message_guard")
Handler = Callable[..., Any]
HIDDEN = "<body not logged: it may hold credentials>"
NOT_LOGGED = "<not logged>"
MALFORMED = "malformed task message"
MAX_TASK_ID = 255  # longer is no id a client waits on: no result key is made of it


class MalformedMessage(InvalidTaskError):  # type: ignore[misc]  # celery ships no type hints
    """A message the guard refused. Its text names fields, never values: it is stored as the task's result."""


# --- shape checks ---------------------------------------------------------------------------------------------


def problem(headers: Any, payload: Any) -> str | None:
    """What is wrong with a task message (protocol 1 or 2), or ``None``. Names fields, never echoes values."""
    if not isinstance(headers, Mapping):
        return "the headers are not an object"
    if isinstance(payload, Mapping):
        return _protocol1_problem(headers, payload)
    if not isinstance(headers.get("task"), str):
        return "not a task message (no task header, and the body is not a protocol 1 object)"
    found = _fields_problem(headers, "header")
    if found is not None:
        return found
    if not (isinstance(payload, list | tuple) and len(payload) == 3):
        return "the body is not [args, kwargs, embed]"
    args, kwargs, embed = payload
    if not isinstance(args, list | tuple) or not isinstance(kwargs, Mapping) or not _mapping_or_none(embed):
        return "the body is not [args: list, kwargs: object, embed: object]"
    return _kwargs_problem(kwargs)


def _protocol1_problem(headers: Mapping[str, Any], body: Mapping[str, Any]) -> str | None:
    """A protocol 1 body: ``{"task", "id", "args", "kwargs", "retries", "eta", "expires", ...}``.

    Celery reads such a body as its strategy does (``celery.worker.strategy``): one holding ``args`` gives the
    request's fields, overridden by any message headers; one without ``args`` (and so without a task header,
    which would need it) is used as it is.
    """
    if "args" not in body and "task" in headers:
        return "a protocol 1 body under a task header has no args"
    fields = {**_PROTOCOL1_FIELDS, **body, **headers} if "args" in body else dict(body)
    if not isinstance(fields.get("task"), str):
        return "the protocol 1 body has no task name (a string)"
    found = _fields_problem(fields, "field")
    if found is not None:
        return found
    args, kwargs = body.get("args", ()), body.get("kwargs", {})
    if not isinstance(args, list | tuple):
        return "the args field is not a list"
    if not isinstance(kwargs, Mapping):
        return "the kwargs field is not an object"
    for name in ("callbacks", "errbacks"):
        if not (body.get(name) is None or isinstance(body[name], list | tuple)):
            return f"the {name} field is not a list"
    if not _mapping_or_none(body.get("chord")):
        return "the chord field is not an object"
    if not isinstance(body.get("utc", True), bool):
        return "the utc field is not a boolean"
    return _kwargs_problem(kwargs)


# Fields a protocol 1 body may lack: Celery gives them these values.
_PROTOCOL1_FIELDS: dict[str, Any] = {"retries": 0, "timelimit": None, "eta": None, "expires": None}


def _fields_problem(fields: Mapping[str, Any], kind: str) -> str | None:
    """The request fields both protocols share (headers in protocol 2, body fields in protocol 1)."""
    if not isinstance(fields.get("id"), str):
        return f"the id {kind} is not a string"
    if not isinstance(fields.get("retries", 0) or 0, int):
        return f"the retries {kind} is not an integer"
    limits = fields.get("timelimit")
    if limits is not None and not (
        isinstance(limits, list | tuple) and len(limits) == 2 and all(_number_or_none(x) for x in limits)
    ):
        return f"the timelimit {kind} is not [hard, soft] seconds"
    for name in ("eta", "expires"):
        if not _date_or_none(fields.get(name)):
            return f"the {name} {kind} is not an ISO 8601 date"
    for name in ("shadow", "root_id", "parent_id", "group", "taskset"):
        if not (fields.get(name) is None or isinstance(fields[name], str)):
            return f"the {name} {kind} is not a string"
    return None


def _kwargs_problem(kwargs: Mapping[Any, Any]) -> str | None:
    if not all(isinstance(k, str) for k in kwargs):
        return "a keyword argument name is not a string"
    return None


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _mapping_or_none(value: Any) -> bool:
    return value is None or isinstance(value, Mapping)


def _date_or_none(value: Any) -> bool:
    """What Celery's request accepts for ``eta``/``expires``: nothing, or a date it parses."""
    if not value:
        return True
    if not isinstance(value, str):
        return False
    try:
        maybe_iso8601(value)
    except (ValueError, OverflowError):
        return False
    return True


# --- the task id of a message, and its FAILURE result ---------------------------------------------------------


def task_id_of(message: Any, body: Any = None) -> str | None:
    """The id a caller of this message waits on, if one can be read without decoding it again."""
    headers = message.headers if isinstance(message.headers, Mapping) else {}
    task_id = headers.get("id")
    if task_id is None and isinstance(body, Mapping):  # protocol 1: the id is in the body
        task_id = body.get("id")
    return task_id if isinstance(task_id, str) and 0 < len(task_id) <= MAX_TASK_ID else None


def reason_for(exc: BaseException | None, message: Any) -> str:
    """What the stored failure says; never the message's content, which may hold a password."""
    if isinstance(exc, MalformedMessage):
        return str(exc)
    content_type = str(message.content_type)[:100]
    if isinstance(exc, ContentDisallowed):
        return f"{MALFORMED}: content type {content_type!r} is refused (the worker accepts JSON only)"
    if exc is None:
        return f"{MALFORMED}: not a Celery task message (no task name)"
    if isinstance(exc, InvalidTaskError):
        return f"{MALFORMED}: refused by Celery"
    return f"{MALFORMED}: the body does not decode as {content_type!r}"


def store_failure(app: Any, task_id: str | None, reason: str) -> None:
    """A FAILURE result for ``task_id`` (if any), so its caller gets an error instead of waiting forever."""
    if task_id is None:
        return
    try:
        app.backend.mark_as_failure(task_id, InvalidRequestError(reason))
    except Exception as exc:  # a result store down must not stop the consumer: the message is rejected anyway
        log.error("mt5.message.result_not_stored", task_id=task_id, error=type(exc).__name__)


# --- the consumer's handlers, guarded -------------------------------------------------------------------------


def guarded(handler: Handler) -> Handler:
    """``handler`` (a task strategy's message handler), refusing malformed messages first."""

    def on_message(message: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
        # Protocol 2 passes body=None: decode here (kombu caches it; a DecodeError goes to Celery's handler).
        found = problem(message.headers, message.payload if body is None else body)
        if found is not None:
            raise MalformedMessage(f"{MALFORMED}: {found}")
        return handler(message, body, *args, **kwargs)

    on_message.mt5_guarded = True  # type: ignore[attr-defined]
    return on_message


class GuardedStrategies(dict[str, Handler]):
    """The consumer's task strategies: each guarded as it is stored (also when a ``reload`` control replaces
    them), and looked up by name only. Celery looks a message's task name up here catching ``KeyError`` alone: a
    name that is a list would raise ``TypeError`` (unhashable) and stop the worker, and the message, still
    unacknowledged, would be redelivered to stop the next one."""

    def __setitem__(self, name: str, handler: Handler) -> None:
        super().__setitem__(name, handler if getattr(handler, "mt5_guarded", False) else guarded(handler))

    def __getitem__(self, name: Any) -> Handler:
        if not isinstance(name, str):
            raise KeyError(name)  # Celery reports it as an unknown task: see on_unknown_task
        return super().__getitem__(name)


class _Shown:
    """A message as Celery's reports show it (they log its headers): without the argument representations,
    secrets redacted, long values cut. Celery also reads the id and task name from these headers."""

    def __init__(self, message: Any) -> None:
        self._message = message
        headers = message.headers if isinstance(message.headers, Mapping) else {}
        self.headers = redact({k: _shown_header(k, v) for k, v in headers.items()})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._message, name)


def _shown_header(name: str, value: Any) -> Any:
    if name in ("argsrepr", "kwargsrepr"):
        return NOT_LOGGED
    if name not in ("id", "task", "root_id") and isinstance(value, str) and len(value) > 200:
        return f"{value[:200]}... ({len(value)} characters)"
    return value


def _decoded(message: Any) -> Any:
    try:
        return message.payload
    except Exception:  # undecodable or refused content: nothing to read in it
        return None


def _identity(message: Any) -> tuple[Any, Any]:
    """(id, task name) where Celery's ``on_unknown_task`` reads them: the headers, else a protocol 1 body."""
    headers = message.headers if isinstance(message.headers, Mapping) else {}
    if "id" in headers and "task" in headers:
        return headers["id"], headers["task"]
    payload = _decoded(message)
    return (payload.get("id"), payload.get("task")) if isinstance(payload, Mapping) else (None, None)


class MessageGuard(bootsteps.StartStopStep):  # type: ignore[misc]  # celery ships no type hints
    """Consumer step: guards the task strategies and Celery's reports once Celery has built them, before the
    event loop starts (which reads these attributes when it starts)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, consumer: Any) -> None:
        if not isinstance(consumer.strategies, GuardedStrategies):
            strategies = GuardedStrategies()
            for name, handler in consumer.strategies.items():
                strategies[name] = handler
            consumer.strategies = strategies
        cls, app = type(consumer), consumer.app

        def on_invalid_task(body: Any, message: Any, exc: BaseException) -> None:
            store_failure(app, task_id_of(message, body), reason_for(exc, message))
            cls.on_invalid_task(consumer, HIDDEN, message, exc)

        def on_unknown_message(body: Any, message: Any) -> None:
            store_failure(app, task_id_of(message, body), reason_for(None, message))
            cls.on_unknown_message(consumer, HIDDEN, _Shown(message))

        def on_unknown_task(body: Any, message: Any, exc: BaseException) -> None:
            task_id, name = _identity(message)
            if not (isinstance(task_id, str) and isinstance(name, str)):  # Celery's report would raise on it
                found = MalformedMessage(f"{MALFORMED}: the id or task name is not a string")
                on_invalid_task(_decoded(message), message, found)
                return
            cls.on_unknown_task(consumer, HIDDEN, _Shown(message), exc)  # stores NotRegistered(name) itself

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
            store_failure(app, task_id_of(message), reason_for(exc, message))
            count_rejected(message)
            message.ack()

        consumer.on_invalid_task = on_invalid_task
        consumer.on_unknown_message = on_unknown_message
        consumer.on_unknown_task = on_unknown_task
        consumer.on_decode_error = on_decode_error
