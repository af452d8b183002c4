"""The task table (mt5_worker.task_specs) against what serves it and what calls it: every registered ``mt5.*`` task
has the table's parameters, every SDK function of the port's market, account and trading sides is used by a task or
listed as not exposed, and the clients' generated methods are what the generator writes today."""

from __future__ import annotations

import inspect

import pytest

import mt5_worker.worker.trading_tasks  # noqa: F401  (registers the trading tasks)
from mt5_worker.client.async_client import AsyncMT5Client
from mt5_worker.client.threaded import MT5Client
from mt5_worker.fleet.routing import ORDERED_TASKS, ROUTED_TASKS
from mt5_worker.task_specs import NOT_EXPOSED, TASKS, Routing, TaskSpec
from mt5_worker.terminal.functions import ACCOUNT_FUNCTIONS, FUNCTIONS, MARKET_FUNCTIONS, TRADE_FUNCTIONS
from mt5_worker.worker.app import app
from scripts import generate_clients


def test_the_worker_serves_exactly_the_tables_tasks() -> None:
    assert {t.name for t in TASKS} == {name for name in app.tasks if name.startswith("mt5.")}


@pytest.mark.parametrize("spec", TASKS, ids=lambda t: t.name)
def test_each_task_takes_the_tables_parameters(spec: TaskSpec) -> None:
    task = app.tasks[spec.name]
    run = getattr(task, "_orig_run", task.run)  # under Celery's autoretry wrapper; a bound method: no self
    parameters = inspect.signature(run).parameters.values()
    assert [(p.name, p.default) for p in spec.signature().parameters.values()] == [
        (p.name, p.default) for p in parameters
    ]
    assert spec.doc == task.__doc__


def test_every_data_function_of_the_sdk_is_used_by_a_task_or_left_out_with_a_reason() -> None:
    used = {name for task in TASKS for name in task.sdk}
    assert used <= set(FUNCTIONS), "tasks name SDK functions the port does not have"
    data = set(MARKET_FUNCTIONS) | set(ACCOUNT_FUNCTIONS) | set(TRADE_FUNCTIONS)
    assert set() == data - used - set(NOT_EXPOSED), "add a task for it, or say in NOT_EXPOSED why there is none"
    assert set() == set(NOT_EXPOSED) & used and set(NOT_EXPOSED) <= data
    assert all(reason for reason in NOT_EXPOSED.values())


def test_routing_comes_from_the_table() -> None:
    assert ROUTED_TASKS == {t.name for t in TASKS if t.routing is Routing.ACCOUNT}
    trading = {"mt5.order_send", "mt5.close_position", "mt5.close_positions", "mt5.modify_position", "mt5.cancel_order"}
    assert trading == ORDERED_TASKS  # an account's orders and the desk's calls on them keep their order
    assert all(t.args[0].name == "login" for t in TASKS if t.routing is Routing.ACCOUNT)


# --- the clients: generated, one interface in two flavours ----------------------------------------------------


@pytest.mark.parametrize("flavour", list(generate_clients.TARGETS))
def test_the_generated_client_methods_are_up_to_date(flavour: str) -> None:
    path = generate_clients.TARGETS[flavour]
    assert generate_clients.render(flavour) == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from what the task table generates: run `make clients`"
    )


def test_both_clients_have_a_method_per_task_with_one_signature() -> None:
    for task in (t for t in TASKS if t.client):
        threaded, coroutine = getattr(MT5Client, task.method), getattr(AsyncMT5Client, task.method)
        assert inspect.iscoroutinefunction(coroutine) and not inspect.iscoroutinefunction(threaded)
        assert inspect.signature(threaded) == inspect.signature(coroutine), task.name
        assert threaded.__doc__ == coroutine.__doc__
        submit = inspect.signature(getattr(MT5Client, f"submit_{task.method}"))
        assert [p for p in submit.parameters if p != "expires"] == [
            p for p in inspect.signature(threaded).parameters if p != "timeout"
        ]
