"""Celery's bounded text of a result, without reading all of a large one.

Celery's trace makes ``saferepr(result, resultrepr_maxsize)`` for every task (the success log line and the
``task-succeeded`` event). Bounded as it is (``MT5_RESULT_REPR_MAXSIZE``), it still reads the rest of every
container it cut, to the end, for the closing brackets: for 100,000 bars that is 200,000 tokens of the first
column, about 10 ms of the worker's time per request (D1 in docs/performance.md).

:func:`bounded_saferepr` gives Celery's ``saferepr`` a copy of the result's head instead: each plain ``list``
and ``dict`` cut to ``maxlen + 2`` items, as deep as Celery shows. Every item costs at least two characters of
``maxlen`` (the ", " after it, or the key's quotes and ": "), so Celery's text runs out within the head, and what
it writes after that (", ..." and the brackets still open) is the same: the text is the same, character for
character (tests/unit/test_result_repr.py compares them). A container is cut sooner where its items' text is known
to be long (:func:`_least`): a 28-field account is read as far as its first fields, which fill the text. Anything
else (a tuple, a set, a structure holding itself) goes to Celery's ``saferepr`` as it is. A one-dimensional numpy
array (the worker's columns of bars and ticks, :func:`~mt5_worker.worker.json_codec.array_columns`) is shown as the
list the client receives. A dict of plain values under string keys, the shape of most results, is written directly
as Celery's token loop writes it (:func:`_flat_text`): 7 us for an account against Celery's 40.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

from celery.app import trace
from celery.utils.saferepr import _format_chars, saferepr
from celery.utils.text import truncate


class _Cycle(Exception):
    """The value holds itself: Celery's text names it by ``id``, which a copy would change."""


def bounded_saferepr(o: Any, maxlen: int | None = None, maxlevels: int = 3, seen: set[int] | None = None) -> str:
    """``celery.utils.saferepr.saferepr(o, maxlen, maxlevels, seen)``, the same text, read only as far as shown."""
    if not maxlen or maxlen <= 0 or seen:
        return str(saferepr(o, maxlen, maxlevels, seen))
    flat = _flat_text(o, maxlen) if type(o) is dict else None
    if flat is not None:
        return flat
    try:
        head = _head(o, maxlen, maxlevels + 1 if maxlevels else None, set())
    except _Cycle:
        return str(saferepr(o, maxlen, maxlevels, seen))
    return str(saferepr(head, maxlen, maxlevels, seen))


def _head(value: Any, maxlen: int, levels: int | None, path: set[int]) -> Any:
    kind = type(value)
    keep = maxlen + 2
    if kind.__module__ == "numpy" and getattr(value, "ndim", None) == 1:
        # A worker's column of bars or ticks (json_codec.array_columns): shown as the list it is sent as.
        return value[:keep].tolist()
    if kind is not list and kind is not dict:
        return value
    if levels is not None and levels <= 0:  # Celery writes it as "[...]" / "{...}" without reading it
        return value
    if id(value) in path:
        raise _Cycle
    path.add(id(value))
    deeper = None if levels is None else levels - 1
    if kind is list:
        shown = _shown((_least(item) + 2 for item in value), maxlen, keep)
        head: Any = [_head(item, maxlen, deeper, path) for item in value[:shown]]
    else:
        shown = _shown((_least(key) + _least(item) + 4 for key, item in value.items()), maxlen, keep)
        head = {key: _head(item, maxlen, deeper, path) for key, item in islice(value.items(), shown)}
    path.discard(id(value))
    return head


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _flat_text(value: dict[Any, Any], maxlen: int) -> str | None:
    """Celery's text of a dict of plain values under string keys (most results: an account, a tick, a position),
    written as Celery's token loop writes it, at a fifth of the cost: each key and value cut to what is left of
    ``maxlen`` as Celery cuts it, and once nothing is left, ", ..." unless only the closing brace was to come (what
    comes after the cut is never read, by Celery either). None if a key or value it shows is anything else."""
    out, left = ["{"], maxlen - 1
    last = len(value) - 1
    for i, (key, item) in enumerate(value.items()):
        if type(key) is not str:
            return None
        for j, token in enumerate((key, ": ", item, ", ") if i < last else (key, ": ", item)):
            if left <= 0:
                return "".join(out) + ", ...}"
            if j % 2:  # the separators
                text = token
            elif type(token) not in _SCALARS:
                return None
            elif type(token) is str:
                text = _format_chars(token, left)
            else:  # a number or bool: str() as Celery's safe types; None: repr()
                text = truncate(str(token), left)
            out.append(text)
            left -= len(text)
    return "".join(out) + "}"


def _shown(least: Iterable[int], maxlen: int, keep: int) -> int:
    """How many items of a container to keep: up to the first whose text takes the least texts of the items so far
    past ``maxlen`` (Celery's text cannot go beyond it), and one more, so that Celery still finds an item after the
    cut and writes the same ", ..."; never more than ``keep``."""
    total = 0
    for i, chars in enumerate(islice(least, keep)):
        total += chars
        if total > maxlen:
            return min(i + 2, keep)
    return keep


def _least(value: Any) -> int:
    """The fewest characters Celery's text of ``value`` takes (its repr, quoted and escaped for a string), or all of
    what is left of ``maxlen``: Celery cuts a text longer than what is left to that length plus "...", except that a
    string is cut at its last space before it ("'a...'" for "a bbbbb"), so a string with a space counts 5 at most.
    Anything else counts nothing (a repr may be empty)."""
    kind = type(value)
    if kind is str:
        return len(value) + 2 if " " not in value else min(len(value) + 2, 5)
    if kind is int and value.bit_length() > 10_000:
        return 0  # over 3,000 digits: Python refuses to write it (sys.set_int_max_str_digits); Celery never may
    if kind in _SCALARS:  # a number, a bool or None
        return len(repr(value))
    return 0


def install() -> None:
    """Make Celery's trace (in this process, and the pool's children it forks) use :func:`bounded_saferepr`."""
    trace.saferepr = bounded_saferepr
