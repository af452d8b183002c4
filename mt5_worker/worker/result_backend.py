"""The Redis result backend as the worker writes it: errors any client can read, no traceback.

Celery stores a failed task's exception as ``{"exc_type", "exc_message", "exc_module"}`` with the worker's
formatted traceback beside it. That traceback shows the worker's file paths and source lines to every client;
and a client in another language has no way to get at the MT5 code but to know our argument order. So
:class:`MT5RedisBackend` stores

- ``traceback: null`` for FAILURE and RETRY results (the worker's own log keeps the traceback of an
  unexpected error);
- a ``code`` field beside Celery's three: the MT5 code of an :class:`~mt5_worker.errors.MT5Error`, ``null``
  for any other exception.

A Python client rebuilds the typed error as before (Celery's ``exception_to_python`` calls
``cls(*exc_message)`` and ignores other keys). ``celeryconfig.override_backends`` installs it for the
``redis://`` and ``rediss://`` schemes, so it serves every app configured from ``celeryconfig``.
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import RedisBackend

BACKEND = "mt5_worker.worker.result_backend:MT5RedisBackend"


def mt5_code(exc: BaseException) -> int | None:
    """The MT5 code an error carries, or ``None``."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


class MT5RedisBackend(RedisBackend):  # type: ignore[misc]  # celery ships no type hints
    """Celery's Redis backend storing errors without a traceback and with their MT5 code."""

    def prepare_exception(self, exc: BaseException, serializer: str | None = None) -> Any:
        prepared = super().prepare_exception(exc, serializer)
        if isinstance(prepared, dict):  # JSON (pickle, which we never accept, stores the exception itself)
            prepared["code"] = mt5_code(exc)
        return prepared

    def _get_result_meta(
        self, result: Any, state: str, traceback: Any, request: Any, format_date: bool = True, encode: bool = False
    ) -> dict[str, Any]:
        if state in self.EXCEPTION_STATES:
            traceback = None
        meta: dict[str, Any] = super()._get_result_meta(result, state, traceback, request, format_date, encode)
        return meta
