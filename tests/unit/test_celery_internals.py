"""The Celery and kombu internals the worker relies on, beyond their documented API, are where the worker expects
them: a release that moves one fails here, at once and by name, rather than as a hung integration test.

Each check names the module of ours that relies on it. The bounds in pyproject.toml (celery, kombu < 6) say the
same; a new minor release that passes here is safe to take.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from celery import Celery, Task
from celery.backends.redis import RedisBackend
from celery.utils.imports import symbol_by_name
from celery.worker import state as worker_state
from celery.worker.consumer.consumer import Consumer
from celery.worker.request import Request
from celery.worker.strategy import default as default_strategy


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_worker_state_batching_and_load_reports_read() -> None:
    """worker/batching.py (busy: reserved requests) and worker/load_report.py (backlog, tasks started)."""
    assert isinstance(worker_state.reserved_requests, set | frozenset) or hasattr(
        worker_state.reserved_requests, "__len__"
    )
    assert isinstance(worker_state.all_total_count, list) and isinstance(worker_state.all_total_count[0], int)


def test_the_default_task_strategy_batching_wraps() -> None:
    """worker/batching.py calls ``celery.worker.strategy.default(task, app, consumer, **kwargs)`` and hands it a
    consumer whose ``on_task_request`` it replaces; it uses ``consumer.timer.call_after``."""
    assert ["task", "app", "consumer"] == _parameters(default_strategy)[:3]
    source = inspect.getsource(default_strategy)
    assert "consumer.on_task_request" in source and "consumer.event_dispatcher" in source


@pytest.mark.parametrize(
    "hook", ["on_invalid_task", "on_unknown_message", "on_unknown_task", "on_decode_error", "update_strategies"]
)
def test_the_consumer_hooks_the_message_guard_replaces(hook: str) -> None:
    """worker/message_guard.py and worker/redelivery.py replace these and wrap ``consumer.strategies``."""
    assert callable(getattr(Consumer, hook, None)), f"celery.worker.consumer.Consumer.{hook} moved"
    assert "self.strategies" in inspect.getsource(Consumer.update_strategies)


@pytest.mark.parametrize("step", ["celery.worker.consumer.tasks:Tasks", "celery.worker.components:Pool"])
def test_the_bootsteps_ours_require_exist(step: str) -> None:
    """worker/message_guard.py (after the consumer's Tasks step) and worker/heartbeat.py (after the Pool)."""
    assert inspect.isclass(symbol_by_name(step))


def test_the_request_and_task_methods_redaction_and_retry_routing_override() -> None:
    """worker/redaction.py (Request.__init__, info, send_event; Task.apply_async) and worker/task_class.py
    (Task.signature_from_request(request, args, kwargs, queue, **options))."""
    for name in ("info", "send_event", "argsrepr", "kwargsrepr"):
        assert hasattr(Request, name), f"celery.worker.request.Request.{name} moved"
    assert ["self", "request", "args", "kwargs", "queue", "extra_options"] == _parameters(Task.signature_from_request)


def test_the_redis_backend_methods_the_result_backend_overrides() -> None:
    """worker/result_backend.py overrides ``prepare_exception(exc, serializer)`` and ``_get_result_meta``."""
    assert ["self", "exc", "serializer"] == _parameters(RedisBackend.prepare_exception)[:3]
    assert {"result", "state", "traceback", "request"} <= set(_parameters(RedisBackend._get_result_meta))


def test_native_delayed_delivery_cannot_route_through_a_direct_exchange() -> None:
    """worker/task_class.py routes retries of plain clients' requests because of this (kombu's native delayed
    delivery binds only topic and fan-out exchanges)."""
    from kombu.transport import native_delayed_delivery

    source = inspect.getsource(native_delayed_delivery.bind_queue_to_native_delayed_delivery_exchange)
    assert "'direct'" in source or '"direct"' in source


def test_every_setting_ours_names_is_one_celery_knows() -> None:
    """worker/celery_config.py: a setting Celery no longer knows would be ignored without a word."""
    from mt5_worker.settings import Settings
    from mt5_worker.worker.celery_config import celery_config

    defaults = Celery(set_as_current=False).conf
    for broker in ("redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//"):
        config = celery_config(Settings.load(_env_file=None, celery_broker_url=broker))
        unknown = [key for key in config if key != "override_backends" and defaults.get(key, KeyError) is KeyError]
        assert not unknown, f"settings Celery does not know: {unknown}"
    # Not a setting: the loader reads it from the configuration (worker/result_backend.py's backend by scheme).
    from celery.loaders.base import BaseLoader

    assert "override_backends" in inspect.getsource(BaseLoader.config_from_object)


def test_kombus_redis_restore_of_unacked_messages_is_where_the_guard_wraps_it() -> None:
    """worker/unacked_restore.py wraps ``kombu.transport.redis.QoS.restore_unacked(self, client=None)``, which reaches
    the broker through ``self.channel`` and the channel's ``connection.client``, and keeps held tags in
    ``_delivered``."""
    from kombu.transport import redis as kombu_redis
    from kombu.transport.virtual.base import QoS

    assert ["self", "client"] == _parameters(_original_restore())
    assert "self.channel.conn_or_acquire" in inspect.getsource(_original_restore())
    assert "self.connection.client" in inspect.getsource(kombu_redis.Channel._connparams)
    assert "_delivered" in inspect.getsource(QoS.__init__)


def _original_restore() -> Any:
    from mt5_worker.worker import unacked_restore

    return unacked_restore._original


def test_the_result_text_functions_result_repr_uses() -> None:
    """worker/result_repr.py replaces ``celery.app.trace.saferepr`` and writes a flat result's text with
    ``celery.utils.saferepr._format_chars(value, maxlen)`` and ``celery.utils.text.truncate(s, maxlen)``, as
    Celery's own token loop does (tests/unit/test_result_repr.py compares the texts)."""
    from celery.app import trace
    from celery.utils import saferepr, text

    assert callable(trace.saferepr)
    assert ["val", "maxlen"] == _parameters(saferepr._format_chars)
    assert ["s", "maxlen", "suffix"] == _parameters(text.truncate)
