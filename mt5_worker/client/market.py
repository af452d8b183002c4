"""The market-data requests both clients send: task names and keyword arguments, built in one place.

Arguments keep the SDK's parameter names (``symbol``, ``timeframe``, ``date_from``, ``date_to``, ``start_pos``,
``count``, ``flags``, ``group``); the worker validates them. :func:`to_frame` turns a column-wise answer (rates,
ticks) or a list of records (symbols, book) into a pandas ``DataFrame`` (``pip install "mt5-worker[pandas]"``).
"""

from __future__ import annotations

from typing import Any

Request = tuple[str, dict[str, Any]]
Date = str | int  # ISO 8601 (naive = UTC) or epoch seconds


def _with_account(kwargs: dict[str, Any], password: str | None, server: str | None) -> dict[str, Any]:
    return kwargs | {"password": password, "server": server}


def symbols(login: int, group: str | None, password: str | None, server: str | None) -> Request:
    return "mt5.symbols", _with_account({"login": login, "group": group}, password, server)


def symbol_info(login: int, symbol: str, password: str | None, server: str | None) -> Request:
    return "mt5.symbol_info", _with_account({"login": login, "symbol": symbol}, password, server)


def symbol_tick(login: int, symbol: str, password: str | None, server: str | None) -> Request:
    return "mt5.symbol_tick", _with_account({"login": login, "symbol": symbol}, password, server)


def market_book(login: int, symbol: str, password: str | None, server: str | None) -> Request:
    return "mt5.market_book", _with_account({"login": login, "symbol": symbol}, password, server)


def rates(
    login: int,
    symbol: str,
    timeframe: str | int,
    start_pos: int | None,
    date_from: Date | None,
    date_to: Date | None,
    count: int | None,
    password: str | None,
    server: str | None,
) -> Request:
    given = {"start_pos": start_pos, "date_from": date_from, "date_to": date_to, "count": count}
    kwargs = {"login": login, "symbol": symbol, "timeframe": timeframe} | {
        k: v for k, v in given.items() if v is not None
    }
    return "mt5.rates", _with_account(kwargs, password, server)


def ticks(
    login: int,
    symbol: str,
    date_from: Date,
    date_to: Date | None,
    count: int | None,
    flags: str,
    password: str | None,
    server: str | None,
) -> Request:
    given = {"date_to": date_to, "count": count}
    kwargs = {"login": login, "symbol": symbol, "date_from": date_from, "flags": flags}
    return "mt5.ticks", _with_account(kwargs | {k: v for k, v in given.items() if v is not None}, password, server)


# --- the account side ---


def _filtered(kwargs: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
    return kwargs | {k: v for k, v in optional.items() if v is not None}


def positions(login: int, symbol: str | None, group: str | None, ticket: int | None, password: str | None,
              server: str | None) -> Request:  # fmt: skip
    kwargs = _filtered({"login": login}, {"symbol": symbol, "group": group, "ticket": ticket})
    return "mt5.positions", _with_account(kwargs, password, server)


def orders(login: int, symbol: str | None, group: str | None, ticket: int | None, password: str | None,
           server: str | None) -> Request:  # fmt: skip
    kwargs = _filtered({"login": login}, {"symbol": symbol, "group": group, "ticket": ticket})
    return "mt5.orders", _with_account(kwargs, password, server)


def history(name: str, login: int, date_from: Date | None, date_to: Date | None, group: str | None,
            ticket: int | None, position: int | None, password: str | None, server: str | None) -> Request:  # fmt: skip
    """``mt5.history_deals`` or ``mt5.history_orders`` (``name``)."""
    given = {"date_from": date_from, "date_to": date_to, "group": group, "ticket": ticket, "position": position}
    return f"mt5.{name}", _with_account(_filtered({"login": login}, given), password, server)


def order_calc_margin(login: int, action: str | int, symbol: str, volume: float, price: float,
                      password: str | None, server: str | None) -> Request:  # fmt: skip
    kwargs = {"login": login, "action": action, "symbol": symbol, "volume": volume, "price": price}
    return "mt5.order_calc_margin", _with_account(kwargs, password, server)


def order_calc_profit(login: int, action: str | int, symbol: str, volume: float, price_open: float,
                      price_close: float, password: str | None, server: str | None) -> Request:  # fmt: skip
    kwargs = {"login": login, "action": action, "symbol": symbol, "volume": volume, "price_open": price_open,
              "price_close": price_close}  # fmt: skip
    return "mt5.order_calc_profit", _with_account(kwargs, password, server)


def order_check(login: int, request: dict[str, Any], password: str | None, server: str | None) -> Request:
    return "mt5.order_check", _with_account({"login": login, "request": request}, password, server)


def order_send(login: int, request: dict[str, Any], idempotency_key: str, password: str | None,
               server: str | None) -> Request:  # fmt: skip
    kwargs = {"login": login, "request": request, "idempotency_key": idempotency_key}
    return "mt5.order_send", _with_account(kwargs, password, server)


def order_result(login: int, idempotency_key: str) -> Request:
    return "mt5.order_result", {"login": login, "idempotency_key": idempotency_key}


def to_frame(answer: dict[str, list[Any]] | list[dict[str, Any]]) -> Any:
    """A pandas ``DataFrame`` of a rates/ticks answer (``time`` as UTC datetimes) or of a list of records.

    >>> to_frame(client.rates(10000001, "EURUSD", "H1", start_pos=0, count=24)).close.mean()
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError('to_frame needs pandas: pip install "mt5-worker[pandas]"') from None
    frame = pd.DataFrame(answer)
    if "time" in frame:
        frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
    if "time_msc" in frame:
        frame["time_msc"] = pd.to_datetime(frame["time_msc"], unit="ms", utc=True)
    return frame
