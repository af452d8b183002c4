"""Validation of market-data requests, before anything touches the terminal.

Callers write what JSON can carry: symbols as strings, timeframes by name (``"M1"``, ``"H4"``; the SDK's
integer constants too), dates as ISO 8601 strings or epoch seconds, tick flags by name (``"all"``, ``"info"``,
``"trade"``). What reaches the port is what the SDK takes: epoch seconds (ints, positional), the
``TIMEFRAME_*`` and ``COPY_TICKS_*`` integers. Each error names the argument and what it accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mt5_worker.errors import InvalidRequestError
from mt5_worker.settings import SYMBOL_NAME
from mt5_worker.terminal.constants import COPY_TICKS_ALL, COPY_TICKS_INFO, COPY_TICKS_TRADE, TIMEFRAMES

SYMBOL = SYMBOL_NAME
# A symbols_get mask: names with * wildcards, comma-separated, each optionally negated with !.
MASK = re.compile(r"!?[A-Za-z0-9._#+\-/@&$*]{1,64}(,!?[A-Za-z0-9._#+\-/@&$*]{1,64})*")
TIMEFRAME_BY_NAME = {name: value for value, name in TIMEFRAMES.items()}
TICK_FLAGS = {"all": COPY_TICKS_ALL, "info": COPY_TICKS_INFO, "trade": COPY_TICKS_TRADE}
LATEST_DATE = 2**33  # year 2242: beyond any trade server's history, and still an int64 in milliseconds


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def symbol(value: Any, name: str = "symbol") -> str:
    if not isinstance(value, str) or not SYMBOL.fullmatch(value):
        raise InvalidRequestError(f"invalid {name}: a symbol name of 1-64 letters, digits or ._#+-/@&!$")
    return value


def mask(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1024 or not MASK.fullmatch(value):
        raise InvalidRequestError(
            "invalid group: comma-separated symbol masks with * wildcards, each may start with ! to exclude "
            '(e.g. "*USD*,!*JPY*"), at most 1024 characters'
        )
    return value


def timeframe(value: Any) -> int:
    if _int(value) and value in TIMEFRAMES:
        return int(value)
    if isinstance(value, str):
        found = TIMEFRAME_BY_NAME.get(value.upper().removeprefix("TIMEFRAME_"))
        if found is not None:
            return found
    raise InvalidRequestError(f"invalid timeframe: one of {', '.join(TIMEFRAMES.values())} (or its TIMEFRAME_ value)")


def date(value: Any, name: str) -> int:
    """Epoch seconds from epoch seconds (int) or an ISO 8601 string (naive = UTC, as the port's times)."""
    if _int(value):
        seconds = int(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequestError(f"invalid {name}: not an ISO 8601 date or epoch seconds") from None
        seconds = int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())
    else:
        raise InvalidRequestError(f"invalid {name}: an ISO 8601 date (e.g. 2026-11-02T08:00:00Z) or epoch seconds")
    if not 0 <= seconds < LATEST_DATE:
        raise InvalidRequestError(f"invalid {name}: out of range (1970 to 2242)")
    return seconds


def count(value: Any, max_rows: int, name: str = "count") -> int:
    if not _int(value) or not 1 <= value <= max_rows:
        raise InvalidRequestError(f"invalid {name}: an integer from 1 to {max_rows} (MT5_MAX_ROWS)")
    return int(value)


def start_pos(value: Any) -> int:
    if not _int(value) or not 0 <= value < 2**31:
        raise InvalidRequestError("invalid start_pos: an integer >= 0 (0 = the current bar)")
    return int(value)


def tick_flags(value: Any) -> int:
    if isinstance(value, str) and value.lower() in TICK_FLAGS:
        return TICK_FLAGS[value.lower()]
    if _int(value) and value in TICK_FLAGS.values():
        return int(value)
    raise InvalidRequestError('invalid flags: "all", "info" or "trade"')


def ordered(date_from: int, date_to: int) -> None:
    if date_to < date_from:
        raise InvalidRequestError("invalid range: date_to is before date_from")


@dataclass(frozen=True)
class SeriesRequest:
    """One of the SDK's forms of ``copy_rates_*`` / ``copy_ticks_*``: the port function and its arguments."""

    function: str
    args: tuple[Any, ...]


RATES_FORMS = "start_pos + count, date_from + count, or date_from + date_to"
TICKS_FORMS = "date_from + count, or date_from + date_to"


def rates(
    symbol_: Any,
    timeframe_: Any,
    *,
    start_pos_: Any = None,
    date_from: Any = None,
    date_to: Any = None,
    count_: Any = None,
    max_rows: int,
) -> SeriesRequest:
    """``copy_rates_from_pos`` / ``copy_rates_from`` / ``copy_rates_range``, by which arguments are given."""
    given = {k for k, v in {"start_pos": start_pos_, "date_from": date_from, "date_to": date_to,
                            "count": count_}.items() if v is not None}  # fmt: skip
    name, frame = symbol(symbol_), timeframe(timeframe_)
    if given == {"start_pos", "count"}:
        return SeriesRequest("copy_rates_from_pos", (name, frame, start_pos(start_pos_), count(count_, max_rows)))
    if given == {"date_from", "count"}:
        return SeriesRequest("copy_rates_from", (name, frame, date(date_from, "date_from"), count(count_, max_rows)))
    if given == {"date_from", "date_to"}:
        first, last = date(date_from, "date_from"), date(date_to, "date_to")
        ordered(first, last)
        return SeriesRequest("copy_rates_range", (name, frame, first, last))
    raise InvalidRequestError(f"invalid rates request: give {RATES_FORMS} (got {', '.join(sorted(given)) or 'none'})")


def ticks(
    symbol_: Any, *, date_from: Any = None, date_to: Any = None, count_: Any = None, flags: Any = "all", max_rows: int
) -> SeriesRequest:
    """``copy_ticks_from`` / ``copy_ticks_range``, by which arguments are given."""
    given = {k for k, v in {"date_from": date_from, "date_to": date_to, "count": count_}.items() if v is not None}
    name, mode = symbol(symbol_), tick_flags(flags)
    if given == {"date_from", "count"}:
        return SeriesRequest("copy_ticks_from", (name, date(date_from, "date_from"), count(count_, max_rows), mode))
    if given == {"date_from", "date_to"}:
        first, last = date(date_from, "date_from"), date(date_to, "date_to")
        ordered(first, last)
        return SeriesRequest("copy_ticks_range", (name, first, last, mode))
    raise InvalidRequestError(f"invalid ticks request: give {TICKS_FORMS} (got {', '.join(sorted(given)) or 'none'})")


# --- the account side -------------------------------------------------------------------------------------

ORDER_TYPES = {name: i for i, name in enumerate(
    ("buy", "sell", "buy_limit", "sell_limit", "buy_stop", "sell_stop", "buy_stop_limit", "sell_stop_limit", "close_by")
)}  # fmt: skip
TRADE_ACTIONS = {"deal": 1, "pending": 5, "sltp": 6, "modify": 7, "remove": 8, "close_by": 10}
FILLINGS = {"fok": 0, "ioc": 1, "return": 2, "boc": 3}
ORDER_TIMES = {"gtc": 0, "day": 1, "specified": 2, "specified_day": 3}
_PREFIXES = {"action": "TRADE_ACTION_", "type": "ORDER_TYPE_", "type_filling": "ORDER_FILLING_",
             "type_time": "ORDER_TIME_"}  # fmt: skip
REQUEST_INTS = ("magic", "order", "deviation", "expiration", "position", "position_by")
REQUEST_FLOATS = ("volume", "price", "stoplimit", "sl", "tp")
REQUEST_STRS = ("symbol", "comment")


def named(value: Any, names: dict[str, int], name: str) -> int:
    """An SDK constant given as its integer or its lower-case name without prefix (``"buy"``, ``"deal"``)."""
    if _int(value) and value in names.values():
        return int(value)
    if isinstance(value, str):
        key = value.lower().removeprefix(_PREFIXES.get(name, "").lower())
        if key in names:
            return names[key]
    raise InvalidRequestError(f"invalid {name}: one of {', '.join(names)} (or its integer value)")


def ticket(value: Any, name: str = "ticket") -> int:
    if not _int(value) or not 0 < value < 2**63:
        raise InvalidRequestError(f"invalid {name}: a positive integer")
    return int(value)


def number(value: Any, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) == float("inf"):
        raise InvalidRequestError(f"invalid {name}: a finite number")
    if positive and value <= 0:
        raise InvalidRequestError(f"invalid {name}: a number above 0")
    return float(value)


def one_filter(**given: Any) -> dict[str, Any]:
    """At most one of the keyword filters (``symbol``, ``group``, ``ticket``), validated."""
    present = {k: v for k, v in given.items() if v is not None}
    if len(present) > 1:
        raise InvalidRequestError(f"give at most one of {', '.join(given)} (got {', '.join(sorted(present))})")
    out: dict[str, Any] = {}
    for key, value in present.items():
        out[key] = symbol(value) if key == "symbol" else mask(value) if key == "group" else ticket(value, key)
    return out


@dataclass(frozen=True)
class HistoryRequest:
    """``history_*_get``: dates positionally (with an optional ``group``), or a ``ticket`` or ``position``."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


HISTORY_FORMS = "date_from + date_to (and optionally group), ticket, or position"


def history(*, date_from: Any = None, date_to: Any = None, group: Any = None, ticket_: Any = None,
            position: Any = None) -> HistoryRequest:  # fmt: skip
    dates = {k for k, v in (("date_from", date_from), ("date_to", date_to)) if v is not None}
    ids = {k: v for k, v in (("ticket", ticket_), ("position", position)) if v is not None}
    if dates == {"date_from", "date_to"} and not ids:
        first, last = date(date_from, "date_from"), date(date_to, "date_to")
        ordered(first, last)
        return HistoryRequest((first, last), {} if group is None else {"group": mask(group)})
    if not dates and group is None and len(ids) == 1:
        return HistoryRequest((), one_filter(**ids))
    given = sorted(dates | set(ids) | ({"group"} if group is not None else set()))
    raise InvalidRequestError(f"invalid history request: give {HISTORY_FORMS} (got {', '.join(given) or 'none'})")


def trade_request(value: Any) -> dict[str, Any]:
    """An ``order_check`` request: the ``MqlTradeRequest`` fields, constants by integer or name."""
    if not isinstance(value, dict) or not value:
        raise InvalidRequestError("invalid request: an object of MqlTradeRequest fields (action, symbol, volume, ...)")
    known = {*_PREFIXES, *REQUEST_INTS, *REQUEST_FLOATS, *REQUEST_STRS}
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise InvalidRequestError(f"invalid request: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
    tables = {"action": TRADE_ACTIONS, "type": ORDER_TYPES, "type_filling": FILLINGS, "type_time": ORDER_TIMES}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in tables:
            out[key] = named(item, tables[key], key)
        elif key in REQUEST_FLOATS:
            out[key] = number(item, key)
        elif key in REQUEST_INTS:
            if not _int(item) or not 0 <= item < 2**63:
                raise InvalidRequestError(f"invalid {key}: an integer >= 0")
            out[key] = int(item)
        elif key == "symbol":
            out[key] = symbol(item)
        elif not isinstance(item, str) or len(item) > 31:
            raise InvalidRequestError("invalid comment: a string of at most 31 characters")
        else:
            out[key] = item
    if "action" not in out:
        raise InvalidRequestError("invalid request: action is required")
    return out
