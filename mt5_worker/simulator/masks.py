"""The ``group`` mask of ``symbols_get`` (and, later, ``orders_get``/``positions_get``): which names it selects.

The SDK's rules (mt5symbolsget_py): the mask is a comma-separated list of conditions; a condition is a name
pattern where ``*`` stands for any run of characters; a leading ``!`` makes it an exclusion; the conditions are
applied in order, an inclusion adding the names it matches and an exclusion removing them. So
``"*,!*EUR*,!*GBP*"`` is every name but those containing EUR or GBP, while ``"!*EUR*,*"`` is every name.

Choices where the SDK's pages are silent (docs/sdk-market-data.md): spaces around a condition are ignored (the
page's own example is ``"*, !EUR"``); a pattern matches the whole name, case-insensitively; empty conditions are
skipped; a mask with no condition at all (``""``) selects every name, as omitting ``group`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Condition:
    exclude: bool
    pattern: re.Pattern[str]


@lru_cache(maxsize=256)
def compile_mask(group: str) -> tuple[Condition, ...]:
    """The mask's conditions, in order."""
    conditions = []
    for raw in group.split(","):
        text = raw.strip()
        exclude = text.startswith("!")
        text = text[1:].strip() if exclude else text
        if not text:
            continue
        regex = ".*".join(re.escape(part) for part in text.split("*"))
        conditions.append(Condition(exclude, re.compile(regex, re.IGNORECASE | re.DOTALL)))
    return tuple(conditions)


def matches(group: str, name: str) -> bool:
    """True when the mask selects ``name``."""
    conditions = compile_mask(group)
    if not conditions:
        return True
    selected = False
    for condition in conditions:
        if condition.pattern.fullmatch(name):
            selected = not condition.exclude
    return selected


def select(group: str, names: Iterable[str]) -> list[str]:
    """The names the mask selects, in their given order."""
    return [name for name in names if matches(group, name)]
