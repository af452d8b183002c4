"""The simulator's SDK behaviour (tests/unit/test_simulator.py), again through a real bridge process: the same
return values, error tuples and codes reach a bridge client."""

from __future__ import annotations

from tests.bridge_fixtures import bridged_sim_factory, terminal_tests
from tests.unit import test_simulator

globals().update(terminal_tests(test_simulator))
sim_factory = bridged_sim_factory
