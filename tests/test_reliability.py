"""The fault campaign (issue 7): each ``reliability/`` script's ``--quick`` mode once, on real processes, asserting
the script's own invariants — nothing lost, hung or answered for another account, every failure typed with an
MT5 code, no password anywhere — and that its fault was really injected. No timing assertions."""

from __future__ import annotations

from pathlib import Path

from mt5_worker.terminal.base import RES_E_INTERNAL_FAIL_SEND
from mt5_worker.terminal.simulator import SimulatedTerminal
from reliability import terminal_faults
from reliability.report import Outcome
from tests.conftest import creds


def test_simulator_crashes_on_every_nth_account_info_call_until_initialized() -> None:
    sim = SimulatedTerminal(crash_every=3)
    assert sim.initialize()
    assert sim.login(*creds(sim.accounts[0]))
    assert [True, True, False] == [sim.account_info() is not None for _ in range(3)]
    assert RES_E_INTERNAL_FAIL_SEND == sim.last_error()[0]
    assert not sim.login(*creds(sim.accounts[0]))  # dead for every call, not only account_info
    assert sim.initialize()
    assert sim.account_info() is not None  # 4th call; the 6th crashes again
    assert [True, False] == [sim.account_info() is not None for _ in range(2)]


def _check(outcome: Outcome) -> None:
    t = outcome.tally
    assert [] == outcome.problems, outcome.problems
    assert (0, 0, 0, 0) == (t.lost, t.hung, t.wrong_account, t.failed_uncoded)
    assert t.sent == t.succeeded + t.failed_coded + t.refused_at_send
    assert t.succeeded > 0


def test_terminal_faults(tmp_path: Path) -> None:
    outcome = terminal_faults.run(quick=True, logs=tmp_path)
    _check(outcome)
    assert outcome.figure("terminal crashes (account_info -10001)") >= 1
    assert outcome.figure("Celery retries") > 0
