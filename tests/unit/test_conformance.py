"""The conformance checks against the simulator in this process, directly and through the real adapter over the
stand-in ``MetaTrader5`` module: every check holds (or is the documented simplification); a deviation switched on in
the simulator makes exactly its checks fail, each with a clear line; a check that cannot tell says why."""

from __future__ import annotations

from typing import Any

import pytest

from harness.env import clock_offset, pinned_offset
from harness.sdk_standin import standin
from mt5_worker import backends
from mt5_worker.conformance.context import Account, Context
from mt5_worker.conformance.facts import BY_NAME, FACTS
from mt5_worker.conformance.orders import MAGIC
from mt5_worker.conformance.report import Redactor, line, report
from mt5_worker.conformance.runner import Outcome, Verdict, passed, run
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.simulator.specs import DEVIATIONS
from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal
from tests.conftest import creds, simulator

pytestmark = pytest.mark.market_hours  # reads the market and trades: see docs/testing.md#time

TRADING = {f.name for f in FACTS if f.trading}
BESIDE = {f.name for f in FACTS if f.needs == "module"}  # the simulator is not the MetaTrader5 module
SIMPLIFIED = {f.name for f in FACTS if f.simplification}
# What each deviation of the simulator breaks: exactly these checks, and no other.
BROKEN_BY = {
    "unknown-symbol-code": {"symbol-info-unknown"},
    "keyword-dates-accepted": {"keyword-dates"},
    "tick-range-skips-first-second": {"tick-range-bounds"},
    "comment-cut-from-start": {"comment-kept", "reconciliation-finds"},
}


def context(terminal: Any, *, sdk: Any = None, module: Any = None) -> Context:
    """A terminal connected and logged in as ``mt5-worker conformance`` leaves it, the demo accounts' first two."""
    first, second = (Account(*creds(a)[:2], a.server) for a in DEMO_ACCOUNTS[:2])
    ctx = Context(terminal, first, "EURUSD", Settings.load(_env_file=None), sdk=sdk, module=module, second=second,
                  simulated=True)  # fmt: skip
    assert ctx.reconnect() and ctx.login_again() and terminal.symbol_select("EURUSD", True)
    ctx.press_algo_trading = lambda: backends.press_algo_trading(terminal)
    return ctx


def verdicts(outcomes: list[Outcome]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for outcome in outcomes:
        found.setdefault(outcome.verdict.value, set()).add(outcome.fact.name)
    return found


def failing(outcomes: list[Outcome]) -> set[str]:
    return {o.fact.name for o in outcomes if o.verdict in (Verdict.DIFFERS, Verdict.UNCHECKED)}


def test_every_read_only_check_holds_on_the_simulator() -> None:
    sim = simulator()
    ctx = context(sim, sdk=sim)
    outcomes = run(ctx)
    found = verdicts(outcomes)
    assert passed(outcomes) and [] == ctx.opened
    assert (TRADING | BESIDE, SIMPLIFIED) == (found["not run"], found["documented simplification"])
    assert len(FACTS) - len(TRADING | BESIDE | SIMPLIFIED) == len(found["held"]) >= 30
    # The pinned clock: the check reports the simulated server's offset from this machine's, not 0.
    assert abs(ctx.cache["clock_offset"] - clock_offset()) < 120 and abs(clock_offset()) > 3600


def test_every_check_holds_with_trading_and_leaves_no_position_open() -> None:
    sim = simulator(disable_algo_on_switch=True)
    ctx = context(sim, sdk=sim)
    outcomes = run(ctx, trading=True)
    assert passed(outcomes), [line(c) for c in report(outcomes, {}, [], Redactor())["checks"]]
    assert BESIDE == verdicts(outcomes)["not run"] and TRADING <= verdicts(outcomes)["held"]
    switch = next(o for o in outcomes if o.fact.name == "algo-after-switch")
    assert "went off with the switch" in switch.observed and sim.algo_trading  # pressed again afterwards
    assert [] == [p for p in sim.positions_get() or () if p.magic == MAGIC] and [] == ctx.notes
    done = sim.trade_store.executions()  # this simulator's own store: only what the checks sent
    assert len(done) >= 10 and all(e.login == DEMO_ACCOUNTS[0].login for e in done)  # 5 orders opened, 5 closed


def test_a_terminal_that_keeps_algo_trading_on_after_a_switch_holds_too() -> None:
    sim = simulator()  # the terminal option off: the switch changes nothing
    outcomes = run(context(sim, sdk=sim), trading=True, facts=[BY_NAME["algo-after-switch"]])
    assert Verdict.HELD is outcomes[0].verdict and "stayed on" in outcomes[0].observed


def test_every_check_holds_through_the_real_adapter_over_the_standin_module() -> None:
    module = standin(simulator(disable_algo_on_switch=True))
    outcomes = run(context(MetaTrader5Terminal(module=module), sdk=module, module=module), trading=True)
    found = verdicts(outcomes)
    assert passed(outcomes) and "not run" not in found and SIMPLIFIED == found["documented simplification"]
    constants = next(o for o in outcomes if o.fact.name == "sdk-constants")
    assert "not exported: SYMBOL_FILLING_*" in constants.observed


@pytest.mark.parametrize("deviation", list(DEVIATIONS))
def test_a_deviation_makes_exactly_its_checks_fail_each_with_a_clear_line(deviation: str) -> None:
    sim = simulator(deviations=[deviation])
    outcomes = run(context(sim, sdk=sim), trading=True)
    assert BROKEN_BY[deviation] == failing(outcomes)
    checks = report(outcomes, {}, [], Redactor())["checks"]
    for check in checks:
        if check["name"] in BROKEN_BY[deviation]:
            text = line(check)
            assert text.startswith("DIFFERS") and f" {check['name']}: expected " in text and "; the terminal: " in text
            assert "\n" not in text


def test_every_deviation_has_its_checks() -> None:
    assert set(DEVIATIONS) == set(BROKEN_BY) and all(names <= set(BY_NAME) for names in BROKEN_BY.values())


def test_a_real_terminal_that_models_a_fact_as_the_simulator_does_differs() -> None:
    """The simplification is the simulator's: the same answer from a real terminal is a difference."""
    sim = simulator()
    ctx = context(sim, sdk=sim)
    fact = [BY_NAME["d1-bars-weekdays"]]
    assert Verdict.SIMPLIFICATION is run(ctx, facts=fact)[0].verdict
    ctx.simulated = False
    assert Verdict.DIFFERS is run(ctx, facts=fact)[0].verdict


def test_a_check_that_cannot_tell_says_why_and_fails_the_run() -> None:
    sim = SimulatedTerminal(clock_offset=pinned_offset("weekend"))  # FX is closed
    ctx = context(sim, sdk=sim)
    outcomes = run(ctx, facts=[BY_NAME["order-check-accepts"], BY_NAME["version-shape"]])
    assert (Verdict.UNCHECKED, Verdict.HELD) == tuple(o.verdict for o in outcomes) and not passed(outcomes)
    assert "the market is closed" in outcomes[0].observed

    def broken(ctx: Context) -> Any:
        raise LookupError("no tick")

    stopped = run(ctx, facts=[BY_NAME["version-shape"].__class__("x", "sdk-notes.md", "-", "-", broken)])
    assert (Verdict.UNCHECKED, "the check stopped: LookupError: no tick") == (stopped[0].verdict, stopped[0].observed)


def test_redactor_replaces_every_secret_at_any_depth_and_leaves_short_values() -> None:
    redact = Redactor.of(passwords=["s3cret-pw"], logins=[10000001], servers=["MetaQuotes-Demo"], names=["Alice Demo"])
    data = {"a": ["login 10000001 on MetaQuotes-Demo", {"b": "Alice Demo typed s3cret-pw"}], "n": 10000001}
    assert {"a": ["login [login] on [server]", {"b": "[name] typed [password]"}], "n": 10000001} == redact(data)
    assert "a b" == Redactor.of(passwords=["a"], servers=["b"])("a b")  # would mangle every word
