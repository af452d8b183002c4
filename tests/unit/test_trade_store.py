"""The simulated trade servers' store: shared by terminals naming the same file, surviving a SIGKILLed process,
atomic per order; and the SDK's refusal of ill-typed request fields (property-based)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.simulator.ledger import make_ledger
from mt5_worker.simulator.market import Market
from mt5_worker.simulator.trade_store import FIRST_TICKET, TradeStore
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import TradeRequest
from tests.conftest import ManualClock
from tests.unit.test_simulator_trading import BUY, WEDNESDAY, A, B, send, terminal

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time

ROOT = Path(__file__).resolve().parents[2]


def test_two_terminals_on_one_file_see_each_others_trades(tmp_path: Path) -> None:
    store = tmp_path / "servers.sqlite3"
    first, second = terminal(trade_store=store), terminal(trade_store=store)
    opened = send(first, comment="from-first")
    assert ["from-first"] == [p.comment for p in second.positions_get() or ()]
    send(second, volume=0.1, type=c.ORDER_TYPE_SELL, position=opened.order, comment="from-second")
    assert () == first.positions_get()
    assert first.account_info() == second.account_info()
    assert {"from-first": 1, "from-second": 1} == TradeStore(store).executions_by_comment(A.server, A.login)


def test_accounts_and_private_stores_are_apart(tmp_path: Path) -> None:
    sim = terminal(trade_store=tmp_path / "s.sqlite3")
    send(sim)
    assert sim.login(B.login, B.password.get_secret_value(), B.server)
    assert () == sim.positions_get()
    assert () == terminal().positions_get()  # trade_store=None: in memory, this object's alone


def test_an_execution_survives_a_sigkilled_process(tmp_path: Path) -> None:
    store = tmp_path / "servers.sqlite3"
    script = f"""
        import os, signal
        from tests.unit.test_simulator_trading import BUY, terminal
        sim = terminal(trade_store={str(store)!r})
        result = sim.order_send(BUY | {{"comment": "before-kill"}})
        assert result.retcode == 10009, result
        os.kill(os.getpid(), signal.SIGKILL)
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True, timeout=60)
    assert -signal.SIGKILL == done.returncode, done.stderr.decode()
    assert {"before-kill": 1} == TradeStore(store).executions_by_comment()
    assert ["before-kill"] == [p.comment for p in terminal(trade_store=store).positions_get() or ()]


def test_a_process_killed_inside_its_transaction_leaves_nothing_and_no_lock(tmp_path: Path) -> None:
    store = tmp_path / "servers.sqlite3"
    script = f"""
        import os, signal
        from tests.unit.test_simulator_trading import BUY, terminal
        import mt5_worker.simulator.trade_store as ts
        original = ts.StoreSession.apply
        def apply_then_die(self, changes):
            original(self, changes)  # written, not committed
            os.kill(os.getpid(), signal.SIGKILL)
        ts.StoreSession.apply = apply_then_die
        terminal(trade_store={str(store)!r}).order_send(BUY | {{"comment": "never"}})
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True, timeout=60)
    assert -signal.SIGKILL == done.returncode, done.stderr.decode()
    sim = terminal(trade_store=store)
    assert ((), {}) == (sim.positions_get(), sim.trade_store.executions_by_comment())
    assert c.TRADE_RETCODE_DONE == send(sim).retcode  # the dead process's lock is gone


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    store = TradeStore(tmp_path / "servers.sqlite3")
    assert {} == store.executions_by_comment()  # the parent's connection is open
    pid = os.fork()
    if pid == 0:  # the child trades through the same object, then leaves without cleanup
        sim = terminal(trade_store=store.path)
        sim._store = store  # the parent's object, as a prefork child inherits it
        code = 0 if send(sim, comment="child").retcode == c.TRADE_RETCODE_DONE else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert 0 == os.waitstatus_to_exitcode(status)
    assert {"child": 1} == store.executions_by_comment()


def test_tickets_never_collide_with_generated_ledgers() -> None:
    market = Market("Trade-Test")
    for login in (1, 10000001, 999_999_999, 5_036_251_234, 2**40):
        ledger = make_ledger(market, login, 0, "USD", int(WEDNESDAY * 1000))
        tickets = [r.ticket for rows in (ledger.positions, ledger.orders, ledger.history_orders, ledger.deals)
                   for r in rows]  # fmt: skip
        assert tickets and max(tickets) < FIRST_TICKET
    sim = terminal()
    result = send(sim)
    assert FIRST_TICKET <= min(result.order, result.deal) < 2**53  # exact in JSON for every client language


# --- the request's fields: what the SDK accepts (its pages' MqlTradeRequest types) -------------------------------

INTEGERS = ("action", "magic", "order", "deviation", "type", "type_filling", "type_time", "expiration", "position",
            "position_by")  # fmt: skip
FLOATS = ("volume", "price", "stoplimit", "sl", "tp")
STRINGS = ("symbol", "comment")
VALUES = st.one_of(
    st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.booleans(), st.text(max_size=40), st.none(),
    st.binary(max_size=4), st.lists(st.integers(), max_size=2),
)  # fmt: skip
KEYS = st.sampled_from((*INTEGERS, *FLOATS, *STRINGS, "volume_current", "Symbol", ""))


def sdk_accepts(request: dict[str, Any]) -> bool:
    """The SDK's rule, stated apart from the simulator: known fields only, ints for integer fields, ints or floats
    for prices and volume, strings for text (a bool is none of these), comments of at most 31 characters."""

    def fits(key: str, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if key in INTEGERS:
            return isinstance(value, int)
        if key in FLOATS:
            return isinstance(value, int | float)
        return key in STRINGS and isinstance(value, str) and (key != "comment" or len(value) <= 31)

    return all(fits(k, v) for k, v in request.items())


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_the_simulator_refuses_exactly_what_the_sdk_refuses(request: dict[str, Any]) -> None:
    sim = _SHARED_SIM
    result = sim.order_check(request)
    if sdk_accepts(request):
        assert result is not None, (request, sim.last_error())
        echoed = TradeRequest(0, 0, 0, "", 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, "", 0, 0)._replace(
            **{k: float(v) if k in FLOATS else v for k, v in request.items()}
        )
        assert echoed == result.request
    else:
        assert result is None
        assert sim.last_error()[0] == -2 and sim.last_error()[1] in ('Invalid "request" argument',
                                                                     'Invalid "comment" argument')  # fmt: skip


_SHARED_SIM = SimulatedTerminal((A,), clock=ManualClock(WEDNESDAY))
_SHARED_SIM.initialize(login=A.login, password=A.password.get_secret_value(), server=A.server)


@pytest.mark.parametrize("request_", [BUY, BUY | {"comment": "é" * 31}])
def test_order_check_and_order_send_accept_the_same_requests(request_: dict[str, Any]) -> None:
    sim = terminal()
    assert sim.order_check(request_) is not None and sim.order_send(request_) is not None


SUNDAY = 1_795_348_800.0  # 2026-11-22 12:00 UTC: FX closed all day, so the day's end has no FX ticks


def test_generated_ledgers_hold_on_a_sunday_and_before_history() -> None:
    from tests.conftest import make_accounts

    accounts = make_accounts(3)  # 500000 and 500002 drew trades that a Sunday used to leave without a price
    sim = SimulatedTerminal(accounts, clock=ManualClock(SUNDAY))
    for spec in (accounts[0], accounts[2]):
        assert sim.initialize(login=spec.login, password=spec.password.get_secret_value(), server=spec.server)
        info, positions = sim.account_info(), sim.positions_get()
        assert info is not None and positions is not None
        assert round(info.balance + sum(p.profit for p in positions), 2) == info.equity
    ledger = sim.ledger()
    assert ledger is not None and ledger.deals
    assert ([p.ticket for p in ledger.positions], ledger.orders) == (
        [p.ticket for p in sim.positions_get() or ()], sim.orders_get())  # fmt: skip
    epoch = SimulatedTerminal(accounts, clock=ManualClock(1_000_000.0))
    assert epoch.initialize(login=500000, password=accounts[0].password.get_secret_value(), server="Test-Server")
    assert ((), 10_000.0) == (epoch.positions_get(), epoch.account_info().equity)  # type: ignore[union-attr]


def test_a_store_that_cannot_be_written_fails_the_call_and_executes_nothing(tmp_path: Path) -> None:
    import sqlite3

    store = tmp_path / "servers.sqlite3"
    sim = terminal(trade_store=store)
    send(sim)
    blocker = sqlite3.connect(store, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    conn = sim.trade_store._connection()
    conn.execute("PRAGMA busy_timeout = 50")
    try:
        assert sim.order_send(BUY) is None
        assert (-1, "Terminal: Call failed") == sim.last_error()
    finally:
        blocker.execute("ROLLBACK")
    assert 1 == len(sim.positions_get() or ())
