"""The tasks other services call, by these exact names: ``mt5.login``, ``mt5.account_info``, ``mt5.health``,
``mt5.pool_stats``, ``mt5.evict_idle``.

Transient MT5 failures are retried by Celery's autoretry with the configured backoff (1, 2, 4 s by default):
the retry waits in the broker, so the single worker process serves other accounts meanwhile. Permanent
failures (refused credentials, invalid arguments) fail at once. Results are JSON and hold no password; logs,
events and ``celery inspect`` show the arguments redacted (:mod:`mt5_worker.worker.redaction`).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from celery import Task

from mt5_worker.credentials import open_credential
from mt5_worker.errors import PermanentMT5Error, TransientMT5Error
from mt5_worker.manager.retry import RetryPolicy
from mt5_worker.worker.app import app
from mt5_worker.worker.redaction import redacted_args_repr as redacted_args_repr  # re-exported
from mt5_worker.worker.runtime import get_runtime
from mt5_worker.worker.settings import worker_settings

_policy = RetryPolicy.from_settings(worker_settings())
# Every task's base is the app's RedactingTask (mt5_worker.worker.app): its arguments are shown redacted everywhere.
RETRYING: dict[str, Any] = {
    "bind": True,
    "autoretry_for": (TransientMT5Error,),
    "throws": (PermanentMT5Error,),  # expected failures: logged without a traceback
    "Strategy": "mt5_worker.worker.batching:strategy",  # account-batched serving (MT5_BATCH_WINDOW)
    **_policy.celery_options(),
}


def _attempt(task: Task) -> int:
    return int(task.request.retries) + 1


@app.task(name="mt5.login", **RETRYING)
def login(self: Task, login: int, password: str, server: str) -> dict[str, Any]:
    """Log ``login`` in (or switch to its pooled session): session info, never the password."""
    rt = get_runtime()
    password = open_credential(password, rt.settings)  # before anything touches the terminal
    info = rt.manager.login(login, password, server, attempt=_attempt(self))
    rt.record(info)
    return asdict(info)


@app.task(name="mt5.account_info", **RETRYING)
def account_info(self: Task, login: int, server: str | None = None, password: str | None = None) -> dict[str, Any]:
    """The account's ``AccountInfo`` fields. ``password``/``server`` may be omitted for a pooled session."""
    rt = get_runtime()
    password = open_credential(password, rt.settings)  # before anything touches the terminal
    info = rt.manager.get_account_info(login, password, server, attempt=_attempt(self))
    rt.record(rt.manager.session(info.login))
    return info._asdict()


@app.task(name="mt5.health")
def health() -> dict[str, Any]:
    """Whether this worker's terminal is initialized and connected, its info and version, the backend."""
    rt = get_runtime()
    return asdict(rt.manager.health()) | {"worker_id": rt.worker_id, "pid": os.getpid()}


@app.task(name="mt5.pool_stats")
def pool_stats() -> dict[str, Any]:
    """The manager's metrics snapshot, its pool, and the sessions Redis knows for this worker."""
    return get_runtime().stats()


@app.task(name="mt5.evict_idle")
def evict_idle() -> list[int]:
    """Log out this worker's sessions idle past ``MT5_CONNECTION_IDLE_TIMEOUT``; the terminal stays up."""
    return get_runtime().sweep()
