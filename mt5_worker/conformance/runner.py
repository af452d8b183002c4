"""Running the checks of :data:`~mt5_worker.conformance.facts.FACTS` against one terminal: each fact's verdict, in
the table's order, and the positions the run opened closed at the end whatever happened.

Verdicts: ``held`` (as the service expects); ``differs``; ``documented simplification`` (a simulator that models the
fact differently on purpose, as the table says); ``could not check`` (a closed market, an account without trades, a
check that failed); ``not run`` (a trading check without ``--trading``, or one that needs the SDK module where this
process does not hold it, through the bridge). A run passes when every check that ran held or is a documented
simplification.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mt5_worker.conformance.context import Context, unchecked
from mt5_worker.conformance.facts import FACTS, Fact
from mt5_worker.conformance.orders import close_opened


class Verdict(enum.Enum):
    HELD = "held"
    DIFFERS = "differs"
    SIMPLIFICATION = "documented simplification"
    UNCHECKED = "could not check"
    NOT_RUN = "not run"


PASSING = frozenset({Verdict.HELD, Verdict.SIMPLIFICATION, Verdict.NOT_RUN})

NEEDS = {
    "sdk": "passes arguments the port cannot pass: run it beside the terminal (MT5_BACKEND=metatrader5)",
    "module": "reads the MetaTrader5 module itself: run it beside the terminal (MT5_BACKEND=metatrader5)",
}


@dataclass(frozen=True)
class Outcome:
    """One fact's verdict and what the terminal did (or why it was not checked)."""

    fact: Fact
    verdict: Verdict
    observed: str


def run(
    ctx: Context, *, trading: bool = False, facts: Iterable[Fact] = FACTS,
    progress: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:  # fmt: skip
    """Each fact's :class:`Outcome`, reported to ``progress`` as it comes; then every position the run opened and
    did not close is closed (what could not be is added to ``ctx.notes``)."""
    outcomes = []
    try:
        for fact in facts:
            outcome = _outcome(ctx, fact, trading)
            outcomes.append(outcome)
            progress(outcome)
    finally:
        if ctx.opened:
            left = close_opened(ctx)
            if left:
                ctx.notes.append(
                    "Positions this run opened and could not close (close them by hand): " + "; ".join(left)
                )
    return outcomes


def passed(outcomes: Iterable[Outcome]) -> bool:
    """Every check that ran held or is a documented simplification."""
    return all(outcome.verdict in PASSING for outcome in outcomes)


def _outcome(ctx: Context, fact: Fact, trading: bool) -> Outcome:
    if fact.trading and not trading:
        return Outcome(fact, Verdict.NOT_RUN, "places orders or switches accounts: run with --trading (a demo account)")
    held_here = {"": True, "sdk": ctx.sdk is not None, "module": ctx.module is not None}
    if not held_here[fact.needs]:
        return Outcome(fact, Verdict.NOT_RUN, NEEDS[fact.needs])
    try:
        observation = fact.check(ctx)
    except Exception as exc:  # a check that cannot finish tells why; the others still run
        observation = unchecked(f"the check stopped: {type(exc).__name__}: {exc}")
    if observation.held is None:
        return Outcome(fact, Verdict.UNCHECKED, observation.observed)
    if observation.held:
        return Outcome(fact, Verdict.HELD, observation.observed)
    if fact.simplification and ctx.simulated:
        return Outcome(fact, Verdict.SIMPLIFICATION, f"{observation.observed} ({fact.simplification})")
    return Outcome(fact, Verdict.DIFFERS, observation.observed)
