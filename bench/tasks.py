"""Bench-only tasks, loaded into a production worker with ``-I bench.tasks``; never part of a deployment.

``bench.noop`` is Celery's floor (P2): same arguments as ``mt5.account_info``, no work; ``bench.noop_info``
also returns a result of the same size. ``bench.naive_account_info``
is what the pooled manager replaces (P1): a fresh terminal per request, initialized, logged in and shut down.
"""

from __future__ import annotations

from typing import Any

from harness.env import clock_offset
from mt5_worker.backends import create_terminal
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.worker.app import app


@app.task(name="bench.noop")
def noop(**_: Any) -> None:
    return None


@app.task(name="bench.naive_account_info")
def naive_account_info(login: int, server: str, password: str) -> dict[str, Any]:
    terminal = create_terminal(Settings.load())  # MT5_SIMULATOR_* as the worker's own terminal
    try:
        if not terminal.initialize():
            raise RuntimeError(f"initialize failed: {terminal.last_error()}")
        if not terminal.login(login, password, server):
            raise RuntimeError(f"login {login} failed: {terminal.last_error()}")
        info = terminal.account_info()
        if info is None:
            raise RuntimeError(f"account_info failed: {terminal.last_error()}")
        return info._asdict()
    finally:
        terminal.shutdown()


@app.task(name="bench.noop_info")
def noop_info(login: int, **_: Any) -> dict[str, Any]:
    """``bench.noop`` with a result the size of ``mt5.account_info``'s: splits P2's gap into result vs work."""
    return _SAMPLE | {"login": login}


def _sample_info() -> dict[str, Any]:
    sim = SimulatedTerminal(clock_offset=clock_offset())
    demo = DEMO_ACCOUNTS[0]
    sim.initialize(login=demo.login, password=demo.password.get_secret_value(), server=demo.server)
    info = sim.account_info()
    sim.shutdown()
    assert info is not None
    return info._asdict()


_SAMPLE = _sample_info()
