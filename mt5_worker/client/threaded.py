"""What callers use to enqueue the ``mt5.*`` tasks from a thread: :class:`MT5Client`.

Two shapes of the same API, one method of each per task of the task table (:mod:`mt5_worker.task_specs`):
- ``submit_*`` methods (and module functions of some of the same names) publish the task and return its Celery
  ``AsyncResult`` at once, like ``Task.delay``;
- plain methods (``account_info``, ``login``, ``rates``, ``order_send``, ...) wait and return the JSON result,
  raising the task's typed error (``AuthorizationError``, ... with its MT5 code and message) on failure.

For ``async def`` code use :class:`mt5_worker.client.async_client.AsyncMT5Client`, which never blocks the event loop.

Routing: an account's requests go to the worker its login hashes to (rendezvous hashing over the live
workers in the registry, :mod:`mt5_worker.fleet.routing`), so each account sticks to one terminal. With no worker
registered they go to the shared ``mt5`` queue. Passwords travel only in the task message body (encrypted when
``MT5_CREDENTIALS_KEY`` is set); the ``kwargsrepr`` that Celery logs and sends to Flower shows them redacted.

Every message expires: a request a worker has not started within the caller's timeout (by default
``MT5_REQUEST_TIMEOUT``) is dropped unserved, because nobody is waiting for its answer any more.
"""

from __future__ import annotations

import math
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from mt5_worker.client.streaming import Streams
from mt5_worker.client.submit_methods import SubmitMethods
from mt5_worker.client.task_methods import TaskMethods
from mt5_worker.credentials import seal_credentials
from mt5_worker.fleet.routing import ORDERED_TASKS, ROUTED_TASKS, AffinityRouter, terminal_queue_name
from mt5_worker.fleet.sessions import connect
from mt5_worker.logging import redact
from mt5_worker.settings import SHARED_QUEUE, Settings
from mt5_worker.worker.queue_wait import published_stamp

RETRY_INTERVAL = 0.2  # seconds between publish attempts while the broker is unreachable


def publish_retry_policy(publish_timeout: float) -> dict[str, float]:
    """kombu's retry policy that keeps retrying a publish for about ``publish_timeout`` seconds.

    Used for the broker publish and for the Redis result backend's subscription (``celeryconfig``): without
    it the backend retries for about 20 s per send while Redis is down."""
    return {
        "max_retries": math.ceil(publish_timeout / RETRY_INTERVAL),
        "interval_start": 0,
        "interval_step": RETRY_INTERVAL,
        "interval_max": RETRY_INTERVAL,
    }


class MT5Client(TaskMethods, SubmitMethods, Streams):
    """Enqueue mt5 tasks from a web app (or anything else), routed by account affinity.

    Its task methods (``account_info``, ``rates``, ``order_send``, ... and their ``submit_*`` forms) are generated
    from the task table (:mod:`~mt5_worker.client.task_methods`, :mod:`~mt5_worker.client.submit_methods`); this
    class is the transport: ``submit`` and
    ``call``, routing, sealing, expiry.

    >>> client = MT5Client()  # settings from the environment / .env
    >>> client.account_info(10000001, "MetaQuotes-Demo", "demo-10000001")["login"]
    10000001
    >>> pending = client.submit_account_info(10000001)  # AsyncResult; pooled session: no password needed
    >>> pending.get(timeout=30)["login"]
    10000001
    """

    def __init__(self, app: Celery | None = None, settings: Settings | None = None) -> None:
        if app is None:
            from mt5_worker.worker.app import app as default_app

            app = default_app
        self.app = app
        self.settings = settings if settings is not None else Settings.load()
        self._redis = connect(self.settings.session_store_url)
        self.router = AffinityRouter.from_settings(self.settings, self._redis)
        self._retry_policy = publish_retry_policy(self.settings.publish_timeout)
        _bound_result_backend_retries(app, self._retry_policy)

    # --- submit: publish and return the AsyncResult ------------------------------------------------

    def submit(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        terminal_id: str | None = None,
        expires: float | None = None,
        task_id: str | None = None,
    ) -> AsyncResult:
        """Publish task ``name`` with ``kwargs``; any ``mt5.*`` task, including ones added after this client.

        Account tasks (those with a ``login``) go to their account's terminal; others to ``terminal_id``'s
        queue if given, else to any worker. ``expires`` (seconds, default ``MT5_REQUEST_TIMEOUT``): a worker
        that receives the request later drops it. Raises ``OperationalError`` when the broker stays
        unreachable for ``MT5_PUBLISH_TIMEOUT`` seconds (nothing was sent).
        """
        return self.submit_routed(name, kwargs, terminal_id=terminal_id, expires=expires, task_id=task_id)[0]

    def submit_routed(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        terminal_id: str | None = None,
        expires: float | None = None,
        task_id: str | None = None,
    ) -> tuple[AsyncResult, str | None]:
        """:meth:`submit`, and the queue its routing chose (``None``: the shared one), for :meth:`answered`."""
        kwargs = dict(kwargs or {})
        if name in ROUTED_TASKS or "login" in kwargs:
            queue = self.route(kwargs.get("login"), ordered=name in ORDERED_TASKS)
        else:
            queue = self._queue_of(terminal_id)
        expires = self.settings.request_timeout if expires is None else expires
        return self._send(name, kwargs, queue, expires, task_id), queue

    def answered(self, name: str, queue: str | None) -> None:
        """Task ``name``, sent to ``queue`` by :meth:`submit_routed`, has its answer: bounded-load routing stops
        counting it as waiting there (:meth:`AffinityRouter.answered`). Only the account tasks, which the router
        routed: not a request sent to a ``terminal_id`` of the caller's choosing."""
        if name in ROUTED_TASKS:
            self.router.answered(queue, ordered=name in ORDERED_TASKS)

    # --- wait for the result ----------------------------------------------------------------------

    def call(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        terminal_id: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Run task ``name`` and return its result; raises its typed error, or Celery's ``TimeoutError``
        after ``timeout`` seconds (default ``MT5_REQUEST_TIMEOUT``; the request expires then too)."""
        timeout = self.settings.request_timeout if timeout is None else timeout
        pending, queue = self.submit_routed(name, kwargs, terminal_id=terminal_id, expires=timeout)
        try:
            result = pending.get(timeout=timeout)
        except CeleryTimeoutError:
            raise
        except Exception:
            self.answered(name, queue)  # the task's own error: an answer all the same
            raise
        finally:
            # Celery keeps a result it timed out on as pending until interpreter exit; let it go now.
            pending.backend.remove_pending_result(pending)
        self.answered(name, queue)
        return result

    def pool_stats_all(self, *, timeout: float | None = None) -> list[dict[str, Any]]:
        """``mt5.pool_stats`` of every live worker."""
        timeout = self.settings.request_timeout if timeout is None else timeout
        pending = [self.submit_pool_stats(w, expires=timeout) for w in self.workers()]
        return [r.get(timeout=timeout) for r in pending]

    # --- routing ----------------------------------------------------------------------------------

    def workers(self) -> list[str]:
        """Terminal ids of the live workers (heartbeat within their 3 x ``MT5_HEARTBEAT_INTERVAL``)."""
        self.router.refresh()
        return sorted(self.router.live())

    def route(self, login: Any, *, ordered: bool = False) -> str | None:
        """The queue for ``login``'s requests: its terminal's own queue, else ``None`` (the shared queue).
        ``ordered``: its first choice whatever the loads (orders: kept in the order sent)."""
        if not isinstance(login, int) or isinstance(login, bool):
            return None  # the worker rejects it with a clear error; do not guess a route
        return self.router.queue_for(login, ordered=ordered)

    def close(self) -> None:
        self._redis.close()

    @staticmethod
    def _queue_of(terminal_id: str | None) -> str | None:
        return terminal_queue_name(terminal_id) if terminal_id else None

    def _send(
        self, name: str, kwargs: dict[str, Any], queue: str | None, expires: float, task_id: str | None
    ) -> AsyncResult:
        kwargs = seal_credentials(kwargs, self.settings)  # passwords encrypted when MT5_CREDENTIALS_KEY is set
        try:
            return self.app.send_task(
                name,
                kwargs=kwargs,
                task_id=task_id,
                queue=queue or SHARED_QUEUE,  # explicit, so the affinity router in task_routes stays out of it
                expires=expires,
                kwargsrepr=repr(redact(kwargs)),
                argsrepr="()",
                headers=published_stamp(),  # the worker measures the message's queue wait from it
                retry=True,
                retry_policy=self._retry_policy,
            )
        except OperationalError as exc:
            raise OperationalError(f"broker {self._unreachable()}: {exc}") from None
        except RuntimeError:  # the Redis result backend gave up re-subscribing: nothing was published
            raise OperationalError(f"result backend {self._unreachable()}") from None

    def _unreachable(self) -> str:
        return f"unreachable for {self.settings.publish_timeout:g} s (MT5_PUBLISH_TIMEOUT), task not sent"


def _bound_result_backend_retries(app: Celery, policy: dict[str, float]) -> None:
    """Let the app's Redis result backend retry its subscription for ``MT5_PUBLISH_TIMEOUT``, not Celery's 20 s.

    Celery subscribes to a task's result channel before publishing it; with Redis down that retries about
    20 s per send, one send at a time. Set on the app's configuration unless it names its own policy, and
    before its backend is first used in a thread (the backend reads it once)."""
    options = dict(app.conf.result_backend_transport_options or {})
    if "retry_policy" not in options:
        app.conf.result_backend_transport_options = options | {"retry_policy": policy}
