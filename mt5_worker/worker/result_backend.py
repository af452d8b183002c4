"""The Redis result backend as the worker writes it: errors any client can read, no traceback.

Celery stores a failed task's exception as ``{"exc_type", "exc_message", "exc_module"}`` with the worker's
formatted traceback beside it. That traceback shows the worker's file paths and source lines to every client;
and a client in another language has no way to get at the MT5 code but to know our argument order. So
:class:`MT5RedisBackend` stores

- ``traceback: null`` for FAILURE and RETRY results (the worker's own log keeps the traceback of an
  unexpected error);
- a ``code`` field beside Celery's three: the MT5 code of an :class:`~mt5_worker.errors.MT5Error`, ``null``
  for any other exception.

It also writes each result to Redis once rather than twice. Celery's ``_set`` sends the result with SET (SETEX)
and again with PUBLISH to the client waiting on the task's channel, so a 5 MB answer (100,000 bars) crossed the
socket twice; :meth:`MT5RedisBackend._set` sends it once to a Lua script that does the same SET/SETEX and PUBLISH
in Redis, atomically as Celery's MULTI/EXEC pipeline does. Key, expiry, channel and message are unchanged, so
any Celery client (or our own listener) sees the same thing; Celery's ``set`` still wraps ``_set`` in its retry
on connection errors, and the worker's ``result_backend_always_retry`` wraps that.

A Python client rebuilds the typed error as before (Celery's ``exception_to_python`` calls
``cls(*exc_message)`` and ignores other keys). ``celeryconfig.override_backends`` installs it for the
``redis://`` and ``rediss://`` schemes, so it serves every app configured from ``celeryconfig``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.backends.redis import RedisBackend

# KEYS[1]: the result's key, also its channel; ARGV[1]: the result; ARGV[2]: seconds to expiry, "" for none.
_SET_AND_PUBLISH = """
if ARGV[2] ~= '' then
  redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return redis.call('PUBLISH', KEYS[1], ARGV[1])
"""

BACKEND = "mt5_worker.worker.result_backend:MT5RedisBackend"


def mt5_code(exc: BaseException) -> int | None:
    """The MT5 code an error carries, or ``None``."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


class MT5RedisBackend(RedisBackend):  # type: ignore[misc]  # celery ships no type hints
    """Celery's Redis backend storing errors without a traceback and with their MT5 code, each result sent once."""

    _set_and_publish: Any = None  # the Lua script of _set, registered on first use

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

    def _set(self, key: bytes | str, value: bytes | str, expires: int | float | timedelta | None = None) -> None:
        if expires is None:
            expires = self.expires
        if isinstance(expires, timedelta):  # what redis-py's setex does with one
            expires = int(expires.total_seconds())
        client = self.client
        script = self._set_and_publish
        if script is None:
            # Loaded before its first use, so that even the first result is sent once: on NOSCRIPT redis-py's
            # script loads itself and sends the call again, payload included, which then only happens after a
            # Redis restart or SCRIPT FLUSH.
            script = client.register_script(_SET_AND_PUBLISH)
            client.script_load(_SET_AND_PUBLISH)
            self._set_and_publish = script
        script(keys=[key], args=[value, expires if expires else ""], client=client)
