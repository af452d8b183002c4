"""RetryPolicy: one schedule for the manager and for Celery's autoretry."""

from __future__ import annotations

from celery.utils.time import get_exponential_backoff_interval

from mt5_worker.manager.retry import RetryPolicy


def test_default_schedule_is_1_2_4_seconds_for_3_retries() -> None:
    policy = RetryPolicy()
    assert ([1, 2, 4], 4) == (policy.delays(), policy.attempts)


def test_waits_are_capped() -> None:
    assert [3, 6, 10, 10] == RetryPolicy(retries=4, backoff=3, backoff_max=10).delays()


def test_celery_options_give_the_same_countdowns_as_the_policy() -> None:
    policy = RetryPolicy(retries=5, backoff=2, backoff_max=20)
    options = policy.celery_options()
    countdowns = [
        get_exponential_backoff_interval(
            factor=options["retry_backoff"], retries=n, maximum=options["retry_backoff_max"], full_jitter=False
        )
        for n in range(options["max_retries"])
    ]
    assert policy.delays() == countdowns
    assert options["retry_jitter"] is False
