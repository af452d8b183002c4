"""The bridge's data functions: the market and account sides of the port and ``order_send``, as the service exposes
them.

A mixin of :class:`~mt5_worker.bridge.service.BridgeService` (which supplies the connection's core, its peer and
the allow-list that names resolve through). Each method hands its arguments to
:meth:`~mt5_worker.bridge.service.BridgeCore.call`, which checks they are plain and runs one call at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # service.py imports this module, so BridgeCore is named for the type checker only
    from mt5_worker.bridge.service import BridgeCore, Reply


class DataFunctions:
    """``symbols_*``, ``symbol_*``, ``market_book_*``, ``copy_*``, ``orders_*``, ``positions_*``, ``history_*``,
    ``order_calc_*``, ``order_check`` and ``order_send`` of the bridge service."""

    # What BridgeService supplies.
    _core: BridgeCore
    _peer: str

    # --- the market side: positional arguments reach the terminal positionally, as the SDK wants them ---

    def exposed_symbols_total(self) -> Reply:
        return self._core.call(self._peer, "symbols_total", {}, {})

    def exposed_symbols_get(self, group: str | None = None) -> Reply:
        return self._core.call(self._peer, "symbols_get", {}, {} if group is None else {"group": group})

    def exposed_symbol_info(self, symbol: str) -> Reply:
        return self._core.call(self._peer, "symbol_info", {"symbol": symbol}, {})

    def exposed_symbol_info_tick(self, symbol: str) -> Reply:
        return self._core.call(self._peer, "symbol_info_tick", {"symbol": symbol}, {})

    def exposed_symbol_select(self, symbol: str, enable: bool = True) -> Reply:
        return self._core.call(self._peer, "symbol_select", {"symbol": symbol, "enable": enable}, {})

    def exposed_market_book_add(self, symbol: str) -> Reply:
        return self._core.call(self._peer, "market_book_add", {"symbol": symbol}, {})

    def exposed_market_book_get(self, symbol: str) -> Reply:
        return self._core.call(self._peer, "market_book_get", {"symbol": symbol}, {})

    def exposed_market_book_release(self, symbol: str) -> Reply:
        return self._core.call(self._peer, "market_book_release", {"symbol": symbol}, {})

    def exposed_copy_rates_from(self, symbol: str, timeframe: int, date_from: int, count: int) -> Reply:
        args = {"symbol": symbol, "timeframe": timeframe, "date_from": date_from, "count": count}
        return self._core.call(self._peer, "copy_rates_from", args, {})

    def exposed_copy_rates_from_pos(self, symbol: str, timeframe: int, start_pos: int, count: int) -> Reply:
        args = {"symbol": symbol, "timeframe": timeframe, "start_pos": start_pos, "count": count}
        return self._core.call(self._peer, "copy_rates_from_pos", args, {})

    def exposed_copy_rates_range(self, symbol: str, timeframe: int, date_from: int, date_to: int) -> Reply:
        args = {"symbol": symbol, "timeframe": timeframe, "date_from": date_from, "date_to": date_to}
        return self._core.call(self._peer, "copy_rates_range", args, {})

    def exposed_copy_ticks_from(self, symbol: str, date_from: int, count: int, flags: int) -> Reply:
        args = {"symbol": symbol, "date_from": date_from, "count": count, "flags": flags}
        return self._core.call(self._peer, "copy_ticks_from", args, {})

    def exposed_copy_ticks_range(self, symbol: str, date_from: int, date_to: int, flags: int) -> Reply:
        args = {"symbol": symbol, "date_from": date_from, "date_to": date_to, "flags": flags}
        return self._core.call(self._peer, "copy_ticks_range", args, {})

    # --- the account side ---

    def exposed_orders_total(self) -> Reply:
        return self._core.call(self._peer, "orders_total", {}, {})

    def exposed_orders_get(self, **filters: Any) -> Reply:
        return self._core.call(self._peer, "orders_get", {}, _filters(filters, ("symbol", "group", "ticket")))

    def exposed_positions_total(self) -> Reply:
        return self._core.call(self._peer, "positions_total", {}, {})

    def exposed_positions_get(self, **filters: Any) -> Reply:
        return self._core.call(self._peer, "positions_get", {}, _filters(filters, ("symbol", "group", "ticket")))

    def exposed_history_orders_total(self, date_from: int, date_to: int) -> Reply:
        return self._core.call(self._peer, "history_orders_total", {"date_from": date_from, "date_to": date_to}, {})

    def exposed_history_deals_total(self, date_from: int, date_to: int) -> Reply:
        return self._core.call(self._peer, "history_deals_total", {"date_from": date_from, "date_to": date_to}, {})

    def exposed_history_orders_get(self, dates: tuple[int, ...] = (), **filters: Any) -> Reply:
        return self._history("history_orders_get", dates, filters)

    def exposed_history_deals_get(self, dates: tuple[int, ...] = (), **filters: Any) -> Reply:
        return self._history("history_deals_get", dates, filters)

    def exposed_order_calc_margin(self, action: int, symbol: str, volume: float, price: float) -> Reply:
        args = {"action": action, "symbol": symbol, "volume": volume, "price": price}
        return self._core.call(self._peer, "order_calc_margin", args, {})

    def exposed_order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float
    ) -> Reply:
        args = {"action": action, "symbol": symbol, "volume": volume, "price_open": price_open,
                "price_close": price_close}  # fmt: skip
        return self._core.call(self._peer, "order_calc_profit", args, {})

    def exposed_order_check(self, request: tuple[tuple[str, Any], ...]) -> Reply:
        return self._core.call(self._peer, "order_check", {"request": request}, {})  # a dict again in _run

    # --- trading ---

    def exposed_order_send(self, request: tuple[tuple[str, Any], ...]) -> Reply:
        return self._core.call(self._peer, "order_send", {"request": request}, {})  # a dict again in _run

    def _history(self, function: str, dates: Any, filters: dict[str, Any]) -> Reply:
        if type(dates) is not tuple:
            return self._core.call(self._peer, function, {"dates": dates}, {})  # refused as not plain
        args = {f"date_{i}": d for i, d in enumerate(dates)}
        return self._core.call(self._peer, function, args, _filters(filters, ("group", "ticket", "position")))


def _filters(filters: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Keyword filters as given; unknown names reach the terminal too, which refuses them as the SDK does."""
    return {str(k): v for k, v in filters.items()} if all(type(k) is str for k in filters) else {"?": None}
