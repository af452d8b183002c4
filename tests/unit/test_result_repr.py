"""mt5_worker.worker.result_repr: Celery's bounded text of a result, the same text, without reading all of it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from celery.app import trace
from celery.utils import saferepr as celery_saferepr_module
from celery.utils.saferepr import saferepr

from mt5_worker.worker.result_repr import bounded_saferepr


class Blank:
    def __repr__(self) -> str:
        return ""  # the shortest an item can be: only its ", " counts


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(["int", "float", "str", "none", "blank", "list", "dict", "tuple", "set", "big"])
    if depth >= 5 or kind == "int":
        return rng.randint(-(10**12), 10**12)
    if kind == "float":
        return rng.random() * 10 ** rng.randint(-3, 9)
    if kind == "str":
        return "".join(rng.choice("ab 'x\"é") for _ in range(rng.randint(0, 40)))
    if kind == "none":
        return rng.choice([None, True, False])
    if kind == "blank":
        return Blank()
    if kind == "big":  # a column of bars: far longer than any bound
        return list(range(rng.randint(300, 3000)))
    sizes = [0, 1, 2, 5, 40, 200] if depth == 0 else [0, 1, 2, 5]  # long only at the top: a small generator
    items = [_value(rng, depth + 1) for _ in range(rng.choice(sizes))]
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    if kind == "set":
        return {repr(item)[:3] for item in items}
    return {rng.choice(["", "k", str(i), i]): item for i, item in enumerate(items)}


def _values() -> Iterator[Any]:
    rng = random.Random(25)
    yield from (_value(rng) for _ in range(150))
    bars = {name: list(range(5_000)) for name in ("time", "open", "high", "low", "close")}
    yield bars
    yield [bars, bars]  # the same list twice, not nested in itself
    yield {"": [[]], "empty": {}, "nested": [[[[[1, 2, 3] * 50]]]]}
    cycle: list[Any] = [1, 2]
    cycle.append(cycle)
    yield {"cycle": cycle}


@pytest.mark.parametrize("maxlen", [0, 1, 2, 3, 7, 40, 128, 1024])
@pytest.mark.parametrize("maxlevels", [0, 1, 3])
def test_the_text_is_celerys_character_for_character(maxlen: int | None, maxlevels: int) -> None:
    for value in _values():
        assert saferepr(value, maxlen, maxlevels) == bounded_saferepr(value, maxlen, maxlevels)


def test_a_large_result_is_read_only_as_far_as_it_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    read = 0
    chainlist = celery_saferepr_module._chainlist

    def counted(it: Any) -> Iterator[Any]:
        nonlocal read
        for token in chainlist(it):
            read += 1
            yield token

    monkeypatch.setattr(celery_saferepr_module, "_chainlist", counted)
    bars = {name: list(range(100_000)) for name in ("time", "open", "close")}
    text = bounded_saferepr(bars, 128)
    assert read < 1_000, read  # Celery's own reads the rest of the first column: 200,000 tokens
    assert text.startswith("{'time': [0, 1, 2") and text.endswith(", ...]}")


def test_the_worker_app_installs_it_in_celerys_trace() -> None:
    import mt5_worker.worker.app  # noqa: F401  (installs it when imported)

    assert trace.saferepr is bounded_saferepr


def test_a_workers_numpy_columns_are_shown_as_the_lists_the_client_receives() -> None:
    import numpy as np

    columns = {"time": np.arange(10_000, dtype="<i8"), "close": np.linspace(1.0, 2.0, 10_000)}
    as_lists = {name: column.tolist() for name, column in columns.items()}
    for maxlen in (1, 40, 128, 1024):
        assert saferepr(as_lists, maxlen) == bounded_saferepr(columns, maxlen)
