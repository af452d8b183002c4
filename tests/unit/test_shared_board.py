"""Task metrics in-process: the shared board's slots and labels, queue wait from the publish stamp or the ETA, and
the child's counters merged with the main process's at scrape time (sharing the board across a fork:
tests/integration/test_task_metrics.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mt5_worker.errors import AuthorizationError, TransientMT5Error
from mt5_worker.worker.queue_wait import PUBLISHED_HEADER, published_stamp, queue_wait
from mt5_worker.worker.shared_board import OTHER, SharedBoard
from mt5_worker.worker.task_metrics import TaskMetrics

TASKS = ("mt5.account_info", "mt5.login")


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_board_labels_only_this_workers_tasks_and_keeps_other_names_out() -> None:
    board = SharedBoard(TASKS)
    assert board.tasks == ("mt5.account_info", "mt5.login", OTHER)
    assert "mt5.login" == board.label("mt5.login")
    for hostile in ("mt5.no_such_task", "10000001", None, ["mt5.login"], "x" * 10_000):
        assert OTHER == board.label(hostile)
    board.count("mt5.login", "expired")
    board.count("mt5.login", "expired")
    board.count("10000001", "rejected")  # a login where a task name belongs: no new label
    board.count("mt5.account_info", "failed", "TimeLimitExceeded")
    board.count("mt5.account_info", "failed", "KeyError")  # not a failure the main process records
    board.count("mt5.account_info", "bogus")
    assert sorted(board.counts()) == [
        ("mt5.account_info", "failed", "TimeLimitExceeded", 1.0),
        ("mt5.login", "expired", "", 2.0),
        (OTHER, "rejected", "", 1.0),
    ]


def test_queue_wait_counts_from_the_publish_stamp_or_a_later_eta() -> None:
    now = 1_000_000.0
    stamped = SimpleNamespace(**published_stamp(now - 2.5), eta=None)
    assert 2.5 == queue_wait(stamped, now)
    # In the headers, as a protocol 2 request's custom headers arrive
    assert 1.0 == queue_wait(SimpleNamespace(headers={PUBLISHED_HEADER: now - 1}, eta=None), now)
    # A retry's message keeps its first stamp and waits from its countdown's ETA
    eta = datetime.fromtimestamp(now - 0.5, UTC).isoformat()
    assert 0.5 == queue_wait(SimpleNamespace(**published_stamp(now - 30), eta=eta), now)
    # A publisher's clock ahead of the worker's: never a negative wait
    assert 0.0 == queue_wait(SimpleNamespace(**published_stamp(now + 3), eta=None), now)
    # Not stamped, or stamped with something that is not a number: no sample
    for request in (SimpleNamespace(eta=None), SimpleNamespace(**{PUBLISHED_HEADER: "soon"}, eta=None),
                    SimpleNamespace(**{PUBLISHED_HEADER: True}, eta=None)):  # fmt: skip
        assert queue_wait(request, now) is None


def test_the_childs_counts_and_the_main_processs_are_one_family_at_scrape_time() -> None:
    board = SharedBoard(TASKS)
    registry = CollectorRegistry(auto_describe=False)
    metrics = TaskMetrics(registry, board)
    metrics.outcome("mt5.login", "succeeded")
    metrics.outcome("mt5.login", "failed", AuthorizationError("Terminal: Authorization failed", -6))
    metrics.outcome("mt5.account_info", "retried", TransientMT5Error("IPC timeout", -10005))
    metrics.outcome("mt5.account_info", "failed", KeyError("bug"))
    board.count("mt5.account_info", "failed", "WorkerLostError")  # counted by the main process
    board.count("mt5.account_info", "expired")
    board.set_backlog(4, 99.0)
    board.set_fleet(2, 1, 100.0)
    found = samples(registry)

    def value(name: str, **labels: str) -> float | None:
        return found.get((name, frozenset(labels.items())))

    assert 1 == value("mt5_tasks_total", task="mt5.login", outcome="succeeded")
    assert 1 == value("mt5_tasks_total", task="mt5.login", outcome="failed")
    assert 2 == value("mt5_tasks_total", task="mt5.account_info", outcome="failed")  # child's + main's
    assert 1 == value("mt5_tasks_total", task="mt5.account_info", outcome="expired")
    errors = {k[1]: v for k, v in found.items() if k[0] == "mt5_task_errors_total"}
    assert {
        frozenset({"task": "mt5.login", "outcome": "failed", "error": "AuthorizationError", "code": "-6"}.items()): 1,
        frozenset(
            {"task": "mt5.account_info", "outcome": "retried", "error": "TransientMT5Error", "code": "-10005"}.items()
        ): 1,
        frozenset({"task": "mt5.account_info", "outcome": "failed", "error": "KeyError", "code": ""}.items()): 1,
        frozenset({"task": "mt5.account_info", "outcome": "failed", "error": "WorkerLostError", "code": ""}.items()): 1,
    } == errors
    assert (4, 99) == (value("mt5_worker_backlog"), value("mt5_worker_backlog_timestamp_seconds"))
    assert (2, 1) == (value("mt5_fleet_workers", state="live"), value("mt5_fleet_workers", state="departed"))
    # No label ever holds a login, a server or a task id
    labels = {v for key in found for _, v in key[1]}
    assert not any(v.isdigit() and len(v) > 3 for v in labels)


def test_runtime_and_queue_wait_histograms_by_task() -> None:
    registry = CollectorRegistry(auto_describe=False)
    metrics = TaskMetrics(registry, None)
    request = SimpleNamespace(**published_stamp(), eta=None)
    metrics.started("mt5.login", "id-1", request)
    metrics.finished("mt5.login", "id-1")
    metrics.finished("mt5.login", "never-started")  # no sample, no error
    found = samples(registry)
    assert 1 == found[("mt5_task_runtime_seconds_count", frozenset({"task": "mt5.login"}.items()))]
    assert 1 == found[("mt5_task_queue_wait_seconds_count", frozenset({"task": "mt5.login"}.items()))]
    assert found[("mt5_task_queue_wait_seconds_sum", frozenset({"task": "mt5.login"}.items()))] < 1
