"""MT5ConnectionManager's tests (tests/unit/test_manager.py), again on a simulator behind a real bridge process:
the manager sees the bridge's answers, codes and failures exactly as the in-process simulator's."""

from __future__ import annotations

from tests.bridge_fixtures import bridged_sim_factory, terminal_tests
from tests.unit import test_manager

globals().update(terminal_tests(test_manager))
sim_factory = bridged_sim_factory
