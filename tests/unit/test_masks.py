"""The ``group`` mask of symbols_get: the SDK's rules (mt5symbolsget_py), checked by example and by property."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mt5_worker.simulator.masks import matches, select

NAMES = ["EURUSD", "GBPUSD", "USDJPY", "EURGBP", "XAUUSD", "US500", "BTCUSD", "AUDCAD", "NZDCHF", "EURUSD_T20"]


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("*", NAMES),
        ("", NAMES),
        ("EURUSD", ["EURUSD"]),
        ("EUR*", ["EURUSD", "EURGBP", "EURUSD_T20"]),
        ("*USD", ["EURUSD", "GBPUSD", "XAUUSD", "BTCUSD"]),
        ("*,!*EUR*,!*GBP*", ["USDJPY", "XAUUSD", "US500", "BTCUSD", "AUDCAD", "NZDCHF"]),
        ("*, !*USD*, !*EUR*, !*JPY*, !*GBP*", ["US500", "AUDCAD", "NZDCHF"]),  # the page's example, with spaces
        ("!*EUR*,*", NAMES),  # conditions apply in order: the inclusion after the exclusion adds them back
        ("EUR*,!*GBP", ["EURUSD", "EURUSD_T20"]),
        ("*S*D*", ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "BTCUSD", "EURUSD_T20"]),  # `*` anywhere
        ("eurusd", ["EURUSD"]),  # our choice: case-insensitive
        ("NOPE", []),
        ("!*", []),
    ],
)
def test_mask_examples(group: str, expected: list[str]) -> None:
    assert expected == select(group, NAMES)


ALPHABET = "ABCDEFGHJKUSD0123456789._#"
names = st.text(alphabet=ALPHABET, min_size=1, max_size=8)
patterns = st.text(alphabet=ALPHABET + "*", min_size=1, max_size=6)
conditions = st.lists(st.tuples(st.booleans(), patterns), min_size=1, max_size=5)


def reference(conds: list[tuple[bool, str]], name: str) -> bool:
    """Set semantics, written independently: start empty, add inclusions' matches, remove exclusions'."""
    chosen: set[str] = set()
    for exclude, pattern in conds:
        if fnmatch.fnmatchcase(name.upper(), pattern.upper()):
            chosen = chosen - {name} if exclude else chosen | {name}
    return name in chosen


@given(conds=conditions, name=names)
def test_mask_agrees_with_set_semantics(conds: list[tuple[bool, str]], name: str) -> None:
    group = ",".join(("!" if exclude else "") + pattern for exclude, pattern in conds)
    assert reference(conds, name) == matches(group, name)


@given(name=names, pattern=patterns)
def test_star_then_exclusion_is_the_complement(name: str, pattern: str) -> None:
    assert matches(f"*,!{pattern}", name) == (not matches(pattern, name))


@given(name=names)
def test_a_name_selects_itself_and_star_selects_all(name: str) -> None:
    assert matches(name, name)
    assert matches("*", name)
    assert matches(f"*{name[-1]}", name)
    assert not matches(f"{name},!{name}", name)


@given(pool=st.lists(names, unique=True, max_size=12), group=patterns)
def test_select_keeps_the_given_order(pool: list[str], group: str) -> None:
    chosen = select(group, pool)
    assert chosen == [name for name in pool if name in set(chosen)]
