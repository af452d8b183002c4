"""Stream entries' fields: what is written, and read back as the SDK's types.

Every field is a decimal string, readable by any Redis client: integers as such, floats in their shortest form that
reads back to the same float (``repr``), so a reader in any language gets exactly the terminal's numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TICK_FIELDS = ("time_msc", "bid", "ask", "last", "volume", "flags", "volume_real")
TICK_INTS = frozenset({"time_msc", "volume", "flags"})
BAR_FIELDS = ("time", "open", "high", "low", "close", "tick_volume", "spread", "real_volume", "closed")
BAR_INTS = frozenset({"time", "tick_volume", "spread", "real_volume", "closed"})
TRADE_FIELDS = ("login", "idempotency_key", "retcode", "order", "deal", "symbol", "volume", "price", "source")
TRADE_INTS = frozenset({"login", "retcode", "order", "deal", "time_msc"})
TRADE_FLOATS = frozenset({"volume", "price"})


def number(value: Any) -> str:
    """A float (numpy's float64 is one) in its shortest exact form; anything else as an integer."""
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def tick_fields(tick: Any) -> dict[str, str]:
    """A tick (a record of the SDK's ticks array, or a mapping of its fields) as stream fields."""
    names = getattr(getattr(tick, "dtype", None), "names", None)
    if names:  # a numpy record: its values at once, as Python numbers (field by field is ten times the cost)
        values = dict(zip(names, tick.item(), strict=True))
        return {name: number(values[name]) for name in TICK_FIELDS}
    return {name: number(tick[name]) for name in TICK_FIELDS}


def tick_from(fields: Mapping[str, str], symbol: str, entry_id: str) -> dict[str, Any]:
    """A tick as the clients yield it: ``type``, ``symbol``, ``id`` and the SDK's tick fields (``time`` included)."""
    tick: dict[str, Any] = {"type": "tick", "symbol": symbol, "id": entry_id}
    for name in TICK_FIELDS:
        tick[name] = int(fields[name]) if name in TICK_INTS else float(fields[name])
    tick["time"] = tick["time_msc"] // 1000
    return tick


def bar_from(fields: Mapping[str, str], symbol: str, entry_id: str) -> dict[str, Any]:
    bar: dict[str, Any] = {"type": "bar", "symbol": symbol, "id": entry_id}
    for name in BAR_FIELDS:
        bar[name] = int(fields[name]) if name in BAR_INTS else float(fields[name])
    bar["closed"] = bool(bar["closed"])
    return bar


def trade_fields(outcome: Mapping[str, Any]) -> dict[str, str]:
    """An order's outcome (``mt5.order_send``'s answer) as a trade event's fields, ``time_msc`` aside (the writer
    stamps it when it appends): never the request's other fields, so never anything secret."""
    request = outcome.get("request") or {}
    values = {**{name: outcome.get(name, 0) for name in TRADE_FIELDS}, "symbol": request.get("symbol") or ""}
    return {name: value if name in ("idempotency_key", "symbol", "source") else number(value)
            for name, value in ((n, values[n]) for n in TRADE_FIELDS)}  # fmt: skip


def trade_from(fields: Mapping[str, str], entry_id: str) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "trade", "id": entry_id}
    for name, value in fields.items():
        event[name] = int(value) if name in TRADE_INTS else float(value) if name in TRADE_FLOATS else value
    return event


def text_fields(fields: Mapping[Any, Any]) -> dict[str, str]:
    """An entry's fields as text, whichever way the Redis client decodes replies."""
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()}  # fmt: skip
