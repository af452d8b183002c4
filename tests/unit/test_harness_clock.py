"""The harness's pinned clock: every child process it starts gets the same simulated trade servers' clock."""

from __future__ import annotations

from harness.env import CLOCK_OFFSET, PINS, child_env, clock_offset, simulated_now


def test_every_harness_child_gets_the_pinned_clock() -> None:
    assert str(clock_offset()) == child_env()[CLOCK_OFFSET]
    assert str(clock_offset()) == child_env({"MT5_LOG_FORMAT": "json"})[CLOCK_OFFSET]
    pinned = PINS["trading"].timestamp()
    assert pinned <= simulated_now() <= pinned + 3600  # the pin was taken when this run started (under an hour)
