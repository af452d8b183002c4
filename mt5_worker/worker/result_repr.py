"""Celery's bounded text of a result, without reading all of a large one.

Celery's trace makes ``saferepr(result, resultrepr_maxsize)`` for every task (the success log line and the
``task-succeeded`` event). Bounded as it is (``MT5_RESULT_REPR_MAXSIZE``), it still reads the rest of every
container it cut, to the end, for the closing brackets: for 100,000 bars that is 200,000 tokens of the first
column, about 10 ms of the worker's time per request (D1 in docs/performance.md).

:func:`bounded_saferepr` gives Celery's ``saferepr`` a copy of the result's head instead: each plain ``list``
and ``dict`` cut to ``maxlen + 2`` items, as deep as Celery shows. Every item costs at least two characters of
``maxlen`` (the ", " after it, or the key's quotes and ": "), so Celery's text runs out within the head, and what
it writes after that (", ..." and the brackets still open) is the same: the text is the same, character for
character (tests/unit/test_result_repr.py compares them). Anything else (a tuple, a set, a structure holding
itself) goes to Celery's ``saferepr`` as it is. A one-dimensional numpy array (the worker's columns of bars and
ticks, :func:`~mt5_worker.worker.json_codec.array_columns`) is shown as the list the client receives.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from celery.app import trace
from celery.utils.saferepr import saferepr


class _Cycle(Exception):
    """The value holds itself: Celery's text names it by ``id``, which a copy would change."""


def bounded_saferepr(o: Any, maxlen: int | None = None, maxlevels: int = 3, seen: set[int] | None = None) -> str:
    """``celery.utils.saferepr.saferepr(o, maxlen, maxlevels, seen)``, the same text, read only as far as shown."""
    if not maxlen or maxlen <= 0 or seen:
        return str(saferepr(o, maxlen, maxlevels, seen))
    try:
        head = _head(o, maxlen + 2, maxlevels + 1 if maxlevels else None, set())
    except _Cycle:
        return str(saferepr(o, maxlen, maxlevels, seen))
    return str(saferepr(head, maxlen, maxlevels, seen))


def _head(value: Any, keep: int, levels: int | None, path: set[int]) -> Any:
    kind = type(value)
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
        head: Any = [_head(item, keep, deeper, path) for item in value[:keep]]
    else:
        head = {key: _head(item, keep, deeper, path) for key, item in islice(value.items(), keep)}
    path.discard(id(value))
    return head


def install() -> None:
    """Make Celery's trace (in this process, and the pool's children it forks) use :func:`bounded_saferepr`."""
    trace.saferepr = bounded_saferepr
