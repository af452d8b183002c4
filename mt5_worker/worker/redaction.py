"""Task arguments the worker shows redacted, whatever the client sent.

A task message carries its arguments twice: the real ones in the body, and ``argsrepr``/``kwargsrepr``
headers, which are what Celery logs and sends in its ``task-received`` event (so what Flower shows). A plain
Celery client fills those headers with ``saferepr(kwargs)``, password included; and ``celery inspect active``,
``reserved`` and ``scheduled`` answer with the real arguments. So the worker does not trust the headers:

- :class:`RedactedRequest` (every task's ``Request``) computes both representations itself from the decoded
  arguments, with every secret redacted (a ``password`` keyword, at any depth, and a positional argument whose
  parameter is named like one); Celery's log lines, events and the task's own ``request`` see those. Its
  ``info()`` (what ``inspect`` answers) shows the arguments redacted, and its events carry no traceback
  (which would show the worker's file paths to any event consumer).
- :class:`RedactingTask` (the app's task class) sends redacted representations when the worker itself sends a
  task, such as an autoretry, which Celery re-sends without the caller's ``kwargsrepr``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from celery import Task
from celery.utils.saferepr import saferepr
from celery.worker.request import Request

from mt5_worker.logging import REDACTED, is_secret_key, redact

REPR_MAXSIZE = 1024  # as Celery's own argsrepr/kwargsrepr: a 10 MB argument is not logged whole


def _parameter_names(task: Task) -> list[str]:
    """The task's parameter names, read once per task: ``inspect.signature`` is slow for a per-message cost."""
    names: list[str] | None = task.__dict__.get("_mt5_parameter_names")
    if names is None:
        try:
            names = list(inspect.signature(task.run).parameters)
        except (TypeError, ValueError):  # no signature to read: redact by keyword only
            names = []
        task.__dict__["_mt5_parameter_names"] = names
    return names


def redacted_args(task: Task, args: Any) -> list[Any]:
    """Positional arguments with those whose parameter names a secret (``password``) redacted."""
    values = list(args or ())
    if not values:  # what every client of ours sends: keyword arguments only
        return values
    names = _parameter_names(task)
    return [REDACTED if i < len(names) and is_secret_key(names[i]) else redact(v) for i, v in enumerate(values)]


def redacted_args_repr(task: Task, args: Any) -> str:
    """``repr`` of the positional arguments as a tuple, redacted (:func:`redacted_args`)."""
    return str(saferepr(tuple(redacted_args(task, args)), REPR_MAXSIZE))


def redacted_kwargs_repr(kwargs: Any) -> str:
    """``repr`` of the keyword arguments with every secret-named value redacted, at any depth."""
    return str(saferepr(redact(dict(kwargs or {}) if isinstance(kwargs, Mapping) else kwargs), REPR_MAXSIZE))


class RedactedRequest(Request):  # type: ignore[misc]  # celery ships no type hints
    """A worker's request whose every representation of the arguments is redacted (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._argsrepr = redacted_args_repr(self._task, self._args)
        self._kwargsrepr = redacted_kwargs_repr(self._kwargs)
        # What the pool process receives as the task's request (its log lines read these too).
        self._request_dict["argsrepr"] = self._argsrepr
        self._request_dict["kwargsrepr"] = self._kwargsrepr

    def info(self, safe: bool = False) -> dict[str, Any]:
        """What ``celery inspect active/reserved/scheduled/query_task`` answer: the arguments redacted."""
        shown: dict[str, Any] = super().info(safe)
        if not safe:
            shown["args"] = redacted_args(self._task, self._args)
            shown["kwargs"] = redact(self._kwargs)
        return shown

    def send_event(self, type: str, **fields: Any) -> None:
        fields.pop("traceback", None)
        super().send_event(type, **fields)


class RedactingTask(Task):  # type: ignore[misc]  # celery ships no type hints
    """The app's task class: redacted requests on the worker, redacted representations in what it sends."""

    Request = f"{__name__}:RedactedRequest"

    def apply_async(self, args: Any = None, kwargs: Any = None, *more: Any, **options: Any) -> Any:
        if options.get("kwargsrepr") is None:
            options["kwargsrepr"] = redacted_kwargs_repr(kwargs)
        if options.get("argsrepr") is None:
            options["argsrepr"] = redacted_args_repr(self, args)
        return super().apply_async(args, kwargs, *more, **options)
