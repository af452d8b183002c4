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


MONEY = ("balance", "credit", "profit", "equity", "margin", "margin_free", "margin_level", "margin_so_call")
ACCOUNT = {  # an mt5.account_info result: 28 fields
    **{name: 10_000_001 + i for i, name in enumerate(("login", "trade_mode", "leverage", "limit_orders"))},
    **{name: i % 2 == 0 for i, name in enumerate(("trade_allowed", "trade_expert", "fifo_close"))},
    **{name: 10_000.0 + i / 3 for i, name in enumerate(MONEY)},
    **{name: f"{name} text" for name in ("name", "server", "currency", "company")},
    **{f"field_{i}": i for i in range(9)},
}


def _values() -> Iterator[Any]:
    rng = random.Random(25)
    yield from (_value(rng) for _ in range(150))
    bars = {name: list(range(5_000)) for name in ("time", "open", "high", "low", "close")}
    yield bars
    yield [bars, bars]  # the same list twice, not nested in itself
    yield {"": [[]], "empty": {}, "nested": [[[[[1, 2, 3] * 50]]]]}
    yield ACCOUNT
    yield ["a b" * 50, 10**5000]  # an int Python refuses to write, after the cut: Celery never writes it either
    yield {"a b" * 50: 1, "k": 10**5000}
    for cut in range(0, 60, 3):  # strings cut at a space, near and across the bound, between numbers
        yield {"a b": "x" * cut + " y" * (cut % 7), "n": 10**cut, "s": " " * cut, "f": 1.5e-7, "t": True, "z": None}
    cycle: list[Any] = [1, 2]
    cycle.append(cycle)
    yield {"cycle": cycle}


@pytest.mark.parametrize("maxlen", [0, 1, 2, 3, 7, 40, 128, 1024])
@pytest.mark.parametrize("maxlevels", [0, 1, 3])
def test_the_text_is_celerys_character_for_character(maxlen: int | None, maxlevels: int) -> None:
    for value in _values():
        assert _text(saferepr, value, maxlen, maxlevels) == _text(bounded_saferepr, value, maxlen, maxlevels)


def _text(write: Any, value: Any, maxlen: int, maxlevels: int) -> str:
    """The text, or the error both raise when they reach an int Python refuses to write (over 4,300 digits)."""
    try:
        return str(write(value, maxlen, maxlevels))
    except ValueError as exc:
        return f"ValueError: {exc}"


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


def test_a_flat_result_is_read_only_as_far_as_it_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    read = 0
    chaindict = celery_saferepr_module._chaindict

    def counted(mapping: Any) -> Iterator[Any]:
        nonlocal read
        read += len(mapping)
        yield from chaindict(mapping)

    monkeypatch.setattr(celery_saferepr_module, "_chaindict", counted)
    assert 28 == len(ACCOUNT)
    text = bounded_saferepr(ACCOUNT, 128)
    assert read < 10, read  # its first fields fill 128 characters: Celery's own walks all 28
    assert text.startswith("{'login': 10000001, ") and text.endswith(", ...}")


def _flat(rng: random.Random) -> dict[str, Any]:
    """A dict of plain values under string keys, the shape most results have (and the fast path takes)."""

    def text() -> str:
        return "".join(rng.choice("ab 'x\"é:,") for _ in range(rng.choice([0, 1, 2, 3, 8, 40, 300])))

    def plain() -> Any:
        kind = rng.choice(["str", "int", "float", "bool", "none", "sep"])
        if kind == "str":
            return text()
        if kind == "int":
            return rng.randint(-(10**20), 10**20)
        if kind == "float":
            return rng.choice([rng.random() * 10 ** rng.randint(-9, 20), float("inf"), float("nan"), -0.0])
        if kind == "sep":
            return rng.choice([": ", ", ", "}", "..."])  # text that looks like Celery's own separators
        return rng.choice([True, False]) if kind == "bool" else None

    return {text(): plain() for _ in range(rng.choice([0, 1, 2, 3, 5, 28, 100]))}


@pytest.mark.parametrize("maxlen", [1, 2, 3, 4, 5, 6, 9, 17, 40, 128, 500])
def test_a_flat_dict_has_celerys_text_character_for_character(maxlen: int) -> None:
    rng = random.Random(maxlen)
    for _ in range(400):
        value = _flat(rng)
        assert saferepr(value, maxlen) == bounded_saferepr(value, maxlen), value
