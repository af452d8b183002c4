"""What the bridge client accepts as an answer: plain data of each function's exact shape (arrays decoded with
the port's exact columns); anything else is a :class:`BridgeProtocolError`, which the client treats like a broken
pipe."""

from __future__ import annotations

from typing import Any

from mt5_worker.terminal.port import AccountInfo, TerminalInfo
from mt5_worker.terminal.records import (
    RATES_DTYPE,
    TICKS_DTYPE,
    BookInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
)
from mt5_worker.terminal.wire import decode_array, is_plain


class BridgeProtocolError(Exception):
    """The bridge answered something other than plain data of the expected shape."""


_SHAPES: dict[str, int] = {
    "account_info": len(AccountInfo._fields),
    "terminal_info": len(TerminalInfo._fields),
    "version": 3,
    "symbol_info": len(SymbolInfo._fields),
    "symbol_info_tick": len(Tick._fields),
}
_LIST_SHAPES: dict[str, int] = {
    "symbols_get": len(SymbolInfo._fields),
    "market_book_get": len(BookInfo._fields),
    "orders_get": len(TradeOrder._fields),
    "positions_get": len(TradePosition._fields),
    "history_orders_get": len(TradeOrder._fields),
    "history_deals_get": len(TradeDeal._fields),
}
# Results that end with the request they answer (a nested tuple): their sizes.
_WITH_REQUEST = {"order_check": len(OrderCheckResult._fields), "order_send": len(OrderSendResult._fields)}
_INT_FUNCTIONS = frozenset(
    {"symbols_total", "orders_total", "positions_total", "history_orders_total", "history_deals_total"}
)
_ARRAYS = {
    "copy_rates_from": RATES_DTYPE,
    "copy_rates_from_pos": RATES_DTYPE,
    "copy_rates_range": RATES_DTYPE,
    "copy_ticks_from": TICKS_DTYPE,
    "copy_ticks_range": TICKS_DTYPE,
}


def _check_reply(function: str, reply: object) -> tuple[Any, tuple[int, str]]:
    """``(value, last_error)`` from the bridge, checked: plain data of the function's shape (arrays decoded), or
    an error."""
    if not is_plain(reply, allow_bytes=True) or not isinstance(reply, tuple) or len(reply) != 2:
        raise BridgeProtocolError(f"{function}: the bridge answered something other than plain data")
    value, error = reply
    if not (isinstance(error, tuple) and len(error) == 2 and type(error[0]) is int and type(error[1]) is str):
        raise BridgeProtocolError(f"{function}: malformed last_error from the bridge")
    if value is not None and function in _ARRAYS:
        try:
            return decode_array(value, _ARRAYS[function]), (error[0], error[1])
        except ValueError as exc:
            raise BridgeProtocolError(f"{function}: {exc}") from None
    if function in _SHAPES:
        ok = value is None or (type(value) is tuple and len(value) == _SHAPES[function])
    elif function in _LIST_SHAPES:
        size = _LIST_SHAPES[function]
        ok = value is None or (type(value) is tuple and all(type(v) is tuple and len(v) == size for v in value))
    elif function in _INT_FUNCTIONS:
        ok = value is None or type(value) is int
    elif function in ("order_calc_margin", "order_calc_profit"):
        ok = value is None or type(value) is float
    elif function in _WITH_REQUEST:
        size, request_size = _WITH_REQUEST[function], len(TradeRequest._fields)
        ok = value is None or (type(value) is tuple and len(value) == size and type(value[-1]) is tuple
                               and len(value[-1]) == request_size)  # fmt: skip
    elif function in _ARRAYS:
        ok = value is None
    else:
        ok = type(value) is bool
    if not ok or (type(value) is bytes):
        raise BridgeProtocolError(f"{function}: unexpected result shape from the bridge")
    return value, (error[0], error[1])
