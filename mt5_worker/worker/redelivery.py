"""A redelivered message whose task already has its final result is acknowledged, not run a second time.

Tasks are acknowledged after they ran (``acks_late``), so a worker killed between storing a task's result and
acknowledging its message leaves that message to be delivered again: RabbitMQ puts it back as soon as the dead
worker's connection closes, Redis after the visibility timeout. Both mark it *redelivered*. Run again, the task
would answer twice (for ``mt5.order_send`` its idempotency record already guards the order itself).

:class:`RedeliveryGuard`, a consumer bootstep, looks a redelivered message's task id up in the result backend
first: a ``SUCCESS`` or ``FAILURE`` there means the task ran to its end, and the message is acknowledged and
dropped (the caller already has its answer). Only redelivered messages are looked up, so the common path costs
nothing; if the result backend cannot be read the task runs (at least once, as before).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import bootsteps

from mt5_worker.logging import get_logger
from mt5_worker.worker.celery_config import EVICT_ROUTE
from mt5_worker.worker.message_guard import Handler, task_id_of

log = get_logger("mt5_worker.worker.redelivery")
FINAL = frozenset({"SUCCESS", "FAILURE"})
BROADCAST = EVICT_ROUTE["mt5.evict_idle"]["exchange"]


def redelivered(message: Any) -> bool:
    """Whether the broker delivered ``message`` before (to a consumer that did not acknowledge it), to this
    worker's own copy of a queue's message: a broadcast (the idle sweep) reaches every worker under one task id,
    so another worker's result says nothing of this one's run."""
    info = message.delivery_info
    return isinstance(info, Mapping) and bool(info.get("redelivered")) and info.get("exchange") != BROADCAST


def finished(app: Any, task_id: str) -> bool:
    """Whether the result backend holds ``task_id``'s final result; False when it cannot tell."""
    backend = app.backend
    try:
        raw = backend.get(backend.get_key_for_task(task_id))
        meta = backend.decode_result(raw) if raw else None
    except Exception as exc:  # the result store is unreachable: run the task rather than guess
        log.warning("mt5.message.redelivery_unchecked", task_id=task_id, error=type(exc).__name__)
        return False
    return isinstance(meta, Mapping) and meta.get("status") in FINAL


def skipping_finished(app: Any, handler: Handler) -> Handler:
    """``handler`` (a task strategy's message handler), dropping redelivered messages of finished tasks."""

    def on_message(message: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
        if redelivered(message):
            task_id = task_id_of(message, body)
            if task_id is not None and finished(app, task_id):
                headers = message.headers if isinstance(message.headers, Mapping) else {}
                log.info("mt5.message.already_done", task_id=task_id, task=str(headers.get("task"))[:100])
                message.ack()
                return None
        return handler(message, body, *args, **kwargs)

    on_message.mt5_guarded = getattr(handler, "mt5_guarded", False)  # type: ignore[attr-defined]
    return on_message


class RedeliveryGuard(bootsteps.StartStopStep):  # type: ignore[misc]  # celery ships no type hints
    """Consumer step: wraps the (already guarded) task strategies, before the event loop starts."""

    requires = ("mt5_worker.worker.message_guard:MessageGuard",)

    def start(self, consumer: Any) -> None:
        for name, handler in list(consumer.strategies.items()):
            if not getattr(handler, "mt5_redelivery", False):
                wrapped = skipping_finished(consumer.app, handler)
                wrapped.mt5_redelivery = True  # type: ignore[attr-defined]
                consumer.strategies[name] = wrapped
