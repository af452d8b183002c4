"""The suite's own conventions, one way each (docs/testing.md): where a test lives is checked at collection
(tests/conftest.py); this checks what collection cannot see."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_simulator_only_is_written_one_way() -> None:
    """A test that holds whatever the terminal's backend uses ``simulator_stack``, never a ``stack`` narrowed by
    an indirect parametrization."""
    narrowed = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("test_*.py")
        if re.search(r"parametrize\(\s*\"stack\"", path.read_text())
    ]
    assert not narrowed, f"use the simulator_stack fixture instead: {narrowed}"


def test_every_test_module_says_what_it_tests() -> None:
    missing = [str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py") if not p.read_text().startswith('"""')]
    assert not missing, f"test modules without a docstring: {missing}"
