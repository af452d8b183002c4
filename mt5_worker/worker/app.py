"""The Celery app and the worker lifecycle signals.

``celery -A mt5_worker.worker.app worker --pool=prefork --concurrency=1`` (Linux) or ``--pool=solo`` (Windows,
beside the real terminal); ``celery -A mt5_worker.worker.app beat`` for the idle sweep.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, bootsteps
from celery.signals import (
    celeryd_after_setup,
    celeryd_init,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)

from mt5_worker.backends import check_settings
from mt5_worker.fleet.routing import terminal_queue_name
from mt5_worker.logging import configure_logging
from mt5_worker.worker import runtime, shared_board
from mt5_worker.worker import task_metrics as task_metrics  # connects the task metrics to Celery's signals
from mt5_worker.worker.celery_config import task_queue
from mt5_worker.worker.heartbeat import Heartbeat
from mt5_worker.worker.message_guard import MessageGuard
from mt5_worker.worker.redelivery import RedeliveryGuard
from mt5_worker.worker.result_repr import install as bound_result_repr
from mt5_worker.worker.settings import worker_settings
from mt5_worker.worker.unacked_restore import install as guard_unacked_restore

# Every task, Celery's built-in ones included, shows its arguments redacted and routes its retries
# (mt5_worker.worker.task_class).
app = Celery(
    "mt5_worker",
    include=["mt5_worker.worker.tasks", "mt5_worker.worker.trading_tasks"],
    task_cls="mt5_worker.worker.task_class:MT5Task",
)
app.config_from_object("celeryconfig")
guard_unacked_restore()  # a broker connection lost while holding messages must not end the worker
bound_result_repr()  # the result's text in the success line and event reads only what it shows


class BackendCheck(bootsteps.Step):  # type: ignore[misc]
    """The worker's first step, in the main process before the pool forks: a bad value of the terminal backend's own
    settings (``MT5_SIMULATOR_LATENCY`` ...) stops start-up with the variable's name, as a bad ``MT5_*`` value stops
    the settings' loading. The terminal itself starts later, in the process that runs tasks."""

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        check_settings(worker_settings())


app.steps["worker"].add(BackendCheck)
app.steps["worker"].add(Heartbeat)
app.steps["consumer"].add(MessageGuard)  # a malformed message is rejected, not fatal
app.steps["consumer"].add(RedeliveryGuard)  # a redelivered message of a task that finished is not run again


def _configure_logging() -> None:
    settings = worker_settings()
    configure_logging(settings.log_format, settings.log_level)


@celeryd_init.connect
def _remember_nodename(sender: str | None = None, **_: Any) -> None:
    """Runs in the main process before the pool forks: children inherit the worker's name."""
    runtime.nodename = sender
    _configure_logging()


@celeryd_after_setup.connect
def _consume_own_queue(sender: str, instance: Any, **_: Any) -> None:
    """Every worker also consumes ``mt5.terminal.<terminal_id>``, where the router sends its accounts, declared as
    clients declare it (on RabbitMQ a quorum queue; a different declaration would be refused)."""
    settings = worker_settings()
    instance.app.amqp.queues.select_add(task_queue(terminal_queue_name(settings.terminal_id(sender)), settings))


@worker_init.connect
def _share_board(sender: Any = None, **_: Any) -> None:
    """In the main process, before the pool forks: the numbers it and the child share (task outcomes it sees,
    backlog, terminal state), labelled by this worker's task names."""
    shared_board.install(sender.app.tasks.keys(), worker_settings().pool_size)


@worker_process_init.connect
def _start_runtime(**_: Any) -> None:
    """In the process that runs tasks. Returns at once: the terminal starts in a background thread,
    because prefork kills a child whose init takes longer than 4 s and ``initialize()`` can take a minute."""
    _configure_logging()
    runtime.get_runtime()


@worker_process_shutdown.connect
def _stop_child_runtime(**_: Any) -> None:
    runtime.close_runtime()


@worker_shutdown.connect
def _stop_solo_runtime(**_: Any) -> None:
    """``--pool=solo`` sends no ``worker_process_shutdown``; in a prefork parent this finds nothing to close."""
    runtime.close_runtime()
