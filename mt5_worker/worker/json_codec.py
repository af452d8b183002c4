"""Celery's ``json`` serializer on orjson: the same JSON on the wire, encoded and decoded several times faster.

Task messages and results stay ``application/json``, so a plain Celery client (any language) reads and writes
them with its own JSON library. What kombu's own JSON adds beyond plain JSON is kept: values orjson does not
encode natively (``Decimal``, ``bytes``, objects with ``__json__``) and the dates and times it passes through
go to kombu's encoder, which wraps them as ``{"__type__": ..., "__value__": ...}``; a payload holding such a
wrapper is decoded by kombu, which unwraps it. Two values differ from kombu's own encoding, neither of which a
task of the service takes or returns: a ``UUID`` is written as its string, and a float NaN or infinity as
``null`` (kombu writes ``NaN``, which is not JSON and which most other languages' parsers refuse).

A large answer (100,000 bars is 5 MB of JSON) is the case this is for: its encoding in the worker and decoding
in the client were most of its end-to-end time (D1 in ``docs/performance.md``). For the same reason the worker's
bars and ticks stay numpy columns (:func:`array_columns`), which orjson writes straight from the array: the same
JSON as their ``tolist()``, without first making a Python number of each of their 800,000 values.

The codec is registered in kombu's process-wide registry by :func:`use_orjson`, which every process that builds
the service's Celery configuration calls (workers, beat, ``MT5Client``, ``AsyncMT5Client``, the CLI).
"""

from __future__ import annotations

from typing import Any

import orjson
from kombu.serialization import registry
from kombu.utils import json as kombu_json

CONTENT_TYPE = "application/json"
TYPED, TYPED_TEXT = b'"__type__"', '"__type__"'
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_SERIALIZE_NUMPY
_kombu_encoder = kombu_json.JSONEncoder()


def array_columns(array: Any) -> dict[str, Any]:
    """A structured array column-wise, as ``market_data.columns`` but each column a contiguous numpy array where
    orjson writes exactly what it writes for the column's ``tolist()``: 64-bit floats (shorter-than-64-bit floats
    would be written as their own shortest text, not the double's) and integers of any width, in this machine's
    byte order. Any other column is its ``tolist()``."""
    answer: dict[str, Any] = {}
    for name in array.dtype.names or ():
        column = array[name]
        kind, size = column.dtype.kind, column.dtype.itemsize
        same_json = column.dtype.isnative and (kind in "iu" or (kind == "f" and size == 8))
        answer[name] = column.copy() if same_json else column.tolist()  # copy: a field's view is strided
    return answer


def _default(value: Any) -> Any:
    if isinstance(value, tuple):  # named tuples: a list, as the standard library writes them
        return list(value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # what orjson does not write itself
        return value.tolist()
    return _kombu_encoder.default(value)  # type: ignore[no-untyped-call]  # kombu's wrappers; TypeError if not JSON


def dumps(value: Any) -> bytes:
    """``value`` as JSON; what orjson refuses (an integer beyond 64 bits ...) goes to kombu's encoder."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        text: str = kombu_json.dumps(value)  # type: ignore[no-untyped-call]
        return text.encode()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode JSON; a payload holding kombu's type wrappers is decoded by kombu, which unwraps them."""
    raw = data.tobytes() if isinstance(data, memoryview) else data
    typed = TYPED_TEXT in raw if isinstance(raw, str) else TYPED in raw
    if typed:
        return kombu_json.loads(raw)  # type: ignore[no-untyped-call]
    return orjson.loads(raw)


def use_orjson() -> None:
    """Serve Celery's ``json`` serializer (content type ``application/json``) with :func:`dumps`/:func:`loads`."""
    registry.register(  # type: ignore[no-untyped-call]
        "json", dumps, loads, content_type=CONTENT_TYPE, content_encoding="utf-8"
    )
