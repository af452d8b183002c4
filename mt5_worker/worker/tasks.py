"""The tasks other services call, as the task table declares them (:mod:`mt5_worker.task_specs`): ``mt5.login``,
``mt5.account_info``, the market and account reads (``mt5.symbols`` ... ``mt5.order_check``, made here from the
table, each answered by a reader of the runtime), ``mt5.health``, ``mt5.pool_stats``, ``mt5.evict_idle``. The
trading tasks are :mod:`mt5_worker.worker.trading_tasks`.

Transient MT5 failures are retried by Celery's autoretry with the configured backoff (1, 2, 4 s by default):
the retry waits in the broker, so the single worker process serves other accounts meanwhile. Permanent
failures (refused credentials, invalid arguments) fail at once. Results are JSON and hold no password; logs,
events and ``celery inspect`` show the arguments redacted (:mod:`mt5_worker.worker.redaction`).
"""

from __future__ import annotations

import inspect
import operator
import os
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from celery import Task

from mt5_worker.credentials import open_credential
from mt5_worker.errors import PermanentMT5Error, TransientMT5Error
from mt5_worker.manager.retry import RetryPolicy
from mt5_worker.task_specs import BY_NAME, TASKS, TaskSpec
from mt5_worker.worker.app import app
from mt5_worker.worker.redaction import redacted_args_repr as redacted_args_repr  # re-exported
from mt5_worker.worker.runtime import get_runtime
from mt5_worker.worker.settings import worker_settings

T = TypeVar("T")
_policy = RetryPolicy.from_settings(worker_settings())
# Every task's base is the app's RedactingTask (mt5_worker.worker.app): its arguments are shown redacted everywhere.
RETRYING: dict[str, Any] = {
    "bind": True,
    "autoretry_for": (TransientMT5Error,),
    "throws": (PermanentMT5Error,),  # expected failures: logged without a traceback
    "Strategy": "mt5_worker.worker.batching:strategy",  # account-batched serving (MT5_BATCH_WINDOW)
    **_policy.celery_options(),
}


def attempt_of(task: Task) -> int:
    """Which attempt of the request this is (1 = the first; Celery's retries count the others)."""
    return int(task.request.retries) + 1


def declared(name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Register the table's task ``name``, written out below it: its docstring is the table's, and its parameters
    must be the table's (names, order, defaults), or this import fails."""
    spec = BY_NAME[name]

    def register(fun: Callable[..., Any]) -> Any:
        parameters = list(inspect.signature(fun).parameters.values())[1 if options.get("bind") else 0 :]
        expected = [(p.name, p.default) for p in spec.signature().parameters.values()]
        if [(p.name, p.default) for p in parameters] != expected:
            raise TypeError(f"{name}: {fun.__qualname__} takes {parameters}, the task table says {expected}")
        fun.__doc__ = spec.doc
        return app.task(name=name, **options)(fun)

    return register


@declared("mt5.login", **RETRYING)
def login(self: Task, login: int, password: str, server: str) -> dict[str, Any]:
    rt = get_runtime()
    password = open_credential(password, rt.settings)  # before anything touches the terminal
    info = rt.manager.login(login, password, server, attempt=attempt_of(self))
    rt.record(info)
    return asdict(info)


@declared("mt5.account_info", **RETRYING)
def account_info(self: Task, login: int, server: str | None = None, password: str | None = None) -> dict[str, Any]:
    rt = get_runtime()
    password = open_credential(password, rt.settings)  # before anything touches the terminal
    info = rt.manager.get_account_info(login, password, server, attempt=attempt_of(self))
    rt.record(rt.manager.session(info.login))
    return info._asdict()


def _account(self: Task, password: str | None, server: str | None) -> dict[str, Any]:
    """The keyword arguments that name an account's credentials, the password opened (MT5_CREDENTIALS_KEY)."""
    rt = get_runtime()
    return {"password": open_credential(password, rt.settings), "server": server, "attempt": attempt_of(self)}


def recorded(login: Any, answer: T) -> T:
    """``answer``, after writing the session's last use (the idle sweep reads it)."""
    rt = get_runtime()
    rt.record(rt.manager.session(login) if isinstance(login, int) else None)
    return answer


def read_task(spec: TaskSpec) -> Task:
    """The task of an account read: its arguments (by position or name, checked by Celery against the table's
    signature) go by name to the runtime's reader (``spec.reader``, e.g. ``market.rates``), the credentials opened."""
    assert spec.reader is not None
    signature = inspect.Signature([inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                                   *spec.signature().parameters.values()])  # fmt: skip
    reader = operator.attrgetter(spec.reader)

    def run(self: Task, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        account = _account(self, arguments.pop("password"), arguments.pop("server"))
        return recorded(arguments["login"], reader(get_runtime())(**arguments, **account))

    run.__name__ = run.__qualname__ = spec.method
    run.__doc__ = spec.doc
    run.__signature__ = signature  # type: ignore[attr-defined]  # Celery checks the arguments a message carries
    return app.task(name=spec.name, **RETRYING)(run)


# The market and account reads: symbols, symbol_info, ..., order_check (the table's tasks with a reader).
READ_TASKS: dict[str, Task] = {spec.name: read_task(spec) for spec in TASKS if spec.reader is not None}


@declared("mt5.health")
def health() -> dict[str, Any]:
    rt = get_runtime()
    return asdict(rt.manager.health()) | {"worker_id": rt.worker_id, "pid": os.getpid()}


@declared("mt5.pool_stats")
def pool_stats() -> dict[str, Any]:
    return get_runtime().stats()


@declared("mt5.evict_idle")
def evict_idle() -> list[int]:
    return get_runtime().sweep()
