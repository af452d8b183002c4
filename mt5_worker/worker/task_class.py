"""The app's task class: :class:`~mt5_worker.worker.redaction.RedactingTask` (arguments shown redacted everywhere),
a bounded representation of results in logs and events, and retries of a plain client's requests routed as
``MT5Client`` sends them.

On RabbitMQ a plain client's queue (``celery``, by Celery's defaults) is on a direct exchange, which RabbitMQ's
delayed delivery cannot route through (kombu.transport.native_delayed_delivery): a retry sent back there would be
held by the worker until its countdown ends, occupying its prefetch. So such a retry goes where the router sends
the request (the account's terminal queue, or the shared ``mt5`` queue), a quorum queue on a topic exchange whose
countdown is waited out in the broker.
"""

from __future__ import annotations

from typing import Any

from kombu.entity import Queue

from mt5_worker.settings import SHARED_QUEUE
from mt5_worker.worker.celery_config import is_plain_queue
from mt5_worker.worker.redaction import RedactingTask
from mt5_worker.worker.settings import worker_settings


class MT5Task(RedactingTask):
    """Every ``mt5.*`` task's class (``task_cls`` of the app)."""

    @property
    def resultrepr_maxsize(self) -> int:  # a class attribute in Celery
        """How much of a result Celery's success log line and ``task-succeeded`` event show
        (``MT5_RESULT_REPR_MAXSIZE``): Celery computes that text for every task whatever the log level, and for a
        28-field account its default 1,024 characters cost about as much as the rest of Celery's work on the
        result (P2 in docs/performance.md)."""
        return worker_settings().result_repr_maxsize

    def signature_from_request(
        self, request: Any = None, args: Any = None, kwargs: Any = None, queue: Any = None, **options: Any
    ) -> Any:
        request = self.request if request is None else request
        if queue is None and self._from_a_plain_queue_on_rabbitmq(request):
            queue = self._routed_queue(request.args if args is None else args,
                                       request.kwargs if kwargs is None else kwargs)  # fmt: skip
        return super().signature_from_request(request, args, kwargs, queue=queue, **options)

    @staticmethod
    def _from_a_plain_queue_on_rabbitmq(request: Any) -> bool:
        settings = worker_settings()
        routing_key = (request.delivery_info or {}).get("routing_key")
        return settings.broker_is_rabbitmq and isinstance(routing_key, str) and is_plain_queue(routing_key, settings)

    def _routed_queue(self, args: Any, kwargs: Any) -> str:
        route = self.app.amqp.router.route({}, self.name, args, kwargs) or {}
        queue = route.get("queue")
        return queue.name if isinstance(queue, Queue) else str(queue or SHARED_QUEUE)
