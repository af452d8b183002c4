"""The task names other services call by: the published contract."""

from __future__ import annotations


def test_task_names_are_the_published_contract() -> None:
    from mt5_worker.worker.app import app

    app.loader.import_default_modules()  # what a worker does at start-up
    assert {"mt5.login", "mt5.account_info", "mt5.health", "mt5.pool_stats", "mt5.evict_idle"} <= set(app.tasks)
