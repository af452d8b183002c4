"""The broker is chosen by its URL's scheme: Redis (the default) or RabbitMQ; what only one needs is set for it
only, and workers and clients declare every queue alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery
from kombu.entity import Exchange, Queue

from mt5_worker.errors import SettingsError
from mt5_worker.settings import Settings
from mt5_worker.worker.celery_config import AMQP_HEARTBEAT, celery_config, redelivery_bound, task_queue

AMQP = "amqp://mt5:s3cret-pw@rabbit.internal:5672/mt5"
REDIS = "redis://127.0.0.1:6379/0"


def app_of(config: dict[str, Any]) -> Celery:
    app = Celery("config-test", set_as_current=False)
    app.conf.update(config)
    return app


def test_redis_is_the_default_broker_with_its_transport_options(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(redis_url=REDIS)
    config = celery_config(settings)
    assert (REDIS, False) == (config["broker_url"], settings.broker_is_rabbitmq)
    options = config["broker_transport_options"]
    assert (600, 10, True) == (options["visibility_timeout"], options["unacked_mutex_expire"], options["fanout_prefix"])
    assert "confirm_publish" not in options
    assert all(not q.queue_arguments and q.exchange.type in ("direct", "fanout") for q in config["task_queues"])
    assert "task_create_missing_queue_type" not in config


def test_rabbitmq_gets_quorum_queues_topic_exchanges_confirms_and_no_redis_options(
    settings_factory: Callable[..., Settings],
) -> None:
    """The service's queues are quorum queues on topic exchanges; plain clients' queues (the shared ones but mt5)
    are declared exactly as Celery's defaults declare them (a classic queue on a direct exchange)."""
    settings = settings_factory(redis_url=REDIS, celery_broker_url=AMQP, shared_queues="mt5,celery,reports")
    config = celery_config(settings)
    assert (AMQP, REDIS, True) == (config["broker_url"], config["result_backend"], settings.broker_is_rabbitmq)
    assert {"confirm_publish": True} == config["broker_transport_options"]
    assert AMQP_HEARTBEAT == config["broker_heartbeat"]
    shared = {q.name: q for q in config["task_queues"] if q.name in settings.shared_queues}
    assert {"mt5", "celery", "reports"} == set(shared)
    declared = {name: (q.queue_arguments, q.exchange.name, q.exchange.type, q.routing_key, q.durable)
                for name, q in shared.items()}  # fmt: skip
    assert ({"x-queue-type": "quorum"}, "mt5", "topic", "mt5", True) == declared["mt5"]
    for plain in ("celery", "reports"):
        celerys_default = Queue(plain, Exchange(plain, type="direct"), routing_key=plain)
        assert (None, plain, "direct", plain, True) == declared[plain]
        assert celerys_default.exchange == shared[plain].exchange and celerys_default.durable
    assert "quorum" == task_queue("mt5.terminal.w1@h", settings).queue_arguments["x-queue-type"]
    (broadcast,) = [q for q in config["task_queues"] if q.name not in settings.shared_queues]
    assert ("fanout", None) == (broadcast.exchange.type, broadcast.queue_arguments)  # a quorum queue cannot auto-delete
    assert ("quorum", "topic") == (
        config["task_create_missing_queue_type"],
        config["task_create_missing_queue_exchange_type"],
    )


@pytest.mark.parametrize("broker", [REDIS, AMQP])
def test_a_terminal_queue_is_declared_the_same_by_the_worker_and_by_any_client(
    settings_factory: Callable[..., Settings], broker: str
) -> None:
    """The worker adds task_queue(); a client routing there gets Celery's declaration of a queue it was not told
    about. RabbitMQ refuses a second declaration that differs (PRECONDITION_FAILED)."""
    settings = settings_factory(redis_url=REDIS, celery_broker_url=broker)
    name = "mt5.terminal.w1@host-a"
    ours, celerys = task_queue(name, settings), app_of(celery_config(settings)).amqp.queues[name]
    assert (ours.name, ours.exchange, ours.routing_key, ours.queue_arguments, ours.durable) == (
        celerys.name,
        celerys.exchange,
        celerys.routing_key,
        celerys.queue_arguments,
        celerys.durable,
    )


def test_an_unknown_broker_scheme_is_refused_naming_the_variable_without_its_password() -> None:
    with pytest.raises(SettingsError, match="CELERY_BROKER_URL") as refused:
        Settings.load(_env_file=None, celery_broker_url="sqs://key:s3cret-pw@queue.example")
    assert "s3cret-pw" not in str(refused.value)
    assert "amqp://" in str(refused.value)


def test_the_visibility_timeout_constraint_holds_on_redis_only(settings_factory: Callable[..., Settings]) -> None:
    with pytest.raises(SettingsError, match="MT5_BROKER_VISIBILITY_TIMEOUT"):
        settings_factory(visibility_timeout=100)  # not above MT5_TASK_TIME_LIMIT (180) + the longest retry wait
    on_rabbitmq = settings_factory(visibility_timeout=100, celery_broker_url=AMQP)  # no visibility timeout there
    assert 2 * AMQP_HEARTBEAT + 180 + 30 == redelivery_bound(on_rabbitmq)
    assert 600 == redelivery_bound(settings_factory())
