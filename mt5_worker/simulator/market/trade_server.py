"""One trade server's market: its symbols, their last ticks, Depth of Market, ``SymbolInfo`` and the currency
rates between them."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from mt5_worker.simulator.market.bars import BarIndex
from mt5_worker.simulator.market.calendar import HISTORY_START
from mt5_worker.simulator.market.noise import S_BOOK, hash_bits, stable_hash
from mt5_worker.simulator.market.prices import SymbolMarket
from mt5_worker.simulator.market.symbols import SYMBOLS, SymbolSpec
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.arrays import Records
from mt5_worker.terminal.records import BookInfo, SymbolInfo, Tick

BOOK_LEVELS = 5  # entries per side of the Depth of Market (10 in all: SymbolInfo.ticks_bookdepth)


class Market:
    """The symbols of one trade server. Its prices depend on the server's name and ``seed`` only, and its ticks on
    ``tick_rate`` too (mean ticks per second per symbol while it trades; ``None``: each symbol's own)."""

    def __init__(
        self, server: str, seed: int = 0, symbols: Sequence[SymbolSpec] = SYMBOLS, tick_rate: float | None = None
    ) -> None:
        self.server = server
        key = stable_hash(server) ^ (seed * 0x2545F4914F6CDD1D & 0xFFFFFFFFFFFFFFFF)
        self._symbols = {spec.name: SymbolMarket(spec, key, tick_rate) for spec in symbols}
        # Per symbol, the last tick asked for and the span of "now" over which it stays the last one: positions,
        # currency rates and quotes ask for the same few symbols' last ticks many times between two of its ticks.
        self._last: dict[str, tuple[int, int, Tick | None]] = {}
        # (source, target) currency -> (the Forex symbol that quotes them, whether its bid is source in target)
        self._pairs: dict[tuple[str, str], tuple[str, bool] | None] = {}
        self._watch = threading.local()  # .span while watched (:meth:`steady`): per thread, as calls may overlap

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._symbols)

    @property
    def specs(self) -> tuple[SymbolSpec, ...]:
        return tuple(market.spec for market in self._symbols.values())

    def get(self, name: str) -> SymbolMarket | None:
        return self._symbols.get(name)

    def tick(self, name: str, now_ms: int) -> Tick | None:
        """The symbol's last tick at or before now (``None`` for an unknown symbol or before history)."""
        known = self._last.get(name)
        if known is None or not known[0] <= now_ms < known[1]:
            market = self._symbols.get(name)
            if market is None:
                return None
            row, since, until = last_tick(market, now_ms)
            known = self._last[name] = (since, until, None if row is None else _tick(row[0]))
        span = getattr(self._watch, "span", None)
        if span is not None:
            span[0], span[1] = max(span[0], known[0]), min(span[1], known[1])
        return known[2]

    @contextmanager
    def steady(self) -> Iterator[list[int]]:
        """Watch the ticks asked for inside, all at one "now": yields ``[since, until)``, narrowed to the span of
        "now" over which every one of them (and so anything worked out from them and that span alone) stays the
        same."""
        outer = getattr(self._watch, "span", None)
        span = self._watch.span = [-(2**63), 2**63 - 1]
        try:
            yield span
        finally:
            self._watch.span = outer
            if outer is not None:  # a watch inside a watch: the outer one depends on these ticks too
                outer[0], outer[1] = max(outer[0], span[0]), min(outer[1], span[1])

    def rates_window(self, name: str, timeframe: int, now_ms: int, maxbars: int) -> BarIndex:
        return BarIndex(self._symbols[name], timeframe, now_ms // 1000, maxbars)

    def book(self, name: str, now_ms: int) -> tuple[BookInfo, ...]:
        """Depth of Market around the last tick: asks from the farthest down to the best, then bids from the best
        down (the order of the SDK page's example), with hashed volumes that change every second."""
        market = self._symbols[name]
        tick = self.tick(name, now_ms)
        if tick is None:
            return ()
        spec = market.spec
        step = max(1, spec.spread // 3) * spec.point
        levels = np.arange(BOOK_LEVELS)
        lots = np.array([1, 2, 5, 10, 20, 36, 50, 100, 250])
        draw = hash_bits(market.key, S_BOOK, now_ms // 1000, np.arange(2 * BOOK_LEVELS))
        volumes = lots[(draw % np.uint64(len(lots))).astype(np.int64)] * (1 + levels.repeat(2) // 2)
        asks = np.round(tick.ask + levels[::-1] * step, spec.digits)
        bids = np.round(tick.bid - levels * step, spec.digits)
        entries = [(c.BOOK_TYPE_SELL, float(p), int(v)) for p, v in zip(asks, volumes[:BOOK_LEVELS], strict=True)]
        entries += [(c.BOOK_TYPE_BUY, float(p), int(v)) for p, v in zip(bids, volumes[BOOK_LEVELS:], strict=True)]
        return tuple(BookInfo(kind, price, volume, float(volume)) for kind, price, volume in entries)

    def symbol_info(self, name: str, now_ms: int, *, selected: bool, account_currency: str) -> SymbolInfo:
        """The symbol's ``SymbolInfo`` now, for an account in ``account_currency``."""
        market = self._symbols[name]
        spec = market.spec
        tick = self.tick(name, now_ms) or Tick(0, 0.0, 0.0, 0.0, 0, 0, 0, 0.0)
        days = BarIndex(market, c.TIMEFRAME_D1, now_ms // 1000, 2)
        d1 = market.rates(c.TIMEFRAME_D1, *days.by_position(0, 2), now_ms)
        today = d1[-1] if len(d1) else None
        previous_close = float(d1[-2]["close"]) if len(d1) > 1 else 0.0
        spread = round((tick.ask - tick.bid) / spec.point) if tick.time else 0
        bidhigh = float(today["high"]) if today is not None else 0.0
        bidlow = float(today["low"]) if today is not None else 0.0
        tick_value = spec.point * spec.contract_size * self._rate(spec.currency_profit, account_currency, now_ms)
        change = round((tick.bid - previous_close) / previous_close * 100, 2) if previous_close else 0.0
        return SymbolInfo(
            custom=False,
            chart_mode=c.SYMBOL_CHART_MODE_BID,
            select=selected,
            visible=selected,
            session_deals=0,
            session_buy_orders=0,
            session_sell_orders=0,
            volume=0,
            volumehigh=0,
            volumelow=0,
            time=tick.time,
            digits=spec.digits,
            spread=spread,
            spread_float=True,
            ticks_bookdepth=2 * BOOK_LEVELS,
            trade_calc_mode=spec.calc_mode,
            trade_mode=spec.trade_mode,
            start_time=0,
            expiration_time=0,
            trade_stops_level=spec.stops_level,
            trade_freeze_level=0,
            trade_exemode=spec.exemode,
            swap_mode=1,
            swap_rollover3days=3,
            margin_hedged_use_leg=False,
            expiration_mode=15,
            filling_mode=spec.filling_mode,
            order_mode=127,
            order_gtc_mode=0,
            option_mode=0,
            option_right=0,
            bid=tick.bid,
            bidhigh=bidhigh,
            bidlow=bidlow,
            ask=tick.ask,
            askhigh=round(bidhigh + spread * spec.point, spec.digits) if today is not None else 0.0,
            asklow=round(bidlow + spread * spec.point, spec.digits) if today is not None else 0.0,
            last=0.0,
            lasthigh=0.0,
            lastlow=0.0,
            volume_real=0.0,
            volumehigh_real=0.0,
            volumelow_real=0.0,
            option_strike=0.0,
            point=spec.point,
            trade_tick_value=tick_value,
            trade_tick_value_profit=tick_value,
            trade_tick_value_loss=tick_value,
            trade_tick_size=spec.point,
            trade_contract_size=spec.contract_size,
            trade_accrued_interest=0.0,
            trade_face_value=0.0,
            trade_liquidity_rate=0.0,
            volume_min=spec.volume_min,
            volume_max=spec.volume_max,
            volume_step=spec.volume_step,
            volume_limit=0.0,
            swap_long=spec.swap_long,
            swap_short=spec.swap_short,
            margin_initial=0.0,
            margin_maintenance=0.0,
            session_volume=0.0,
            session_turnover=0.0,
            session_interest=0.0,
            session_buy_orders_volume=0.0,
            session_sell_orders_volume=0.0,
            session_open=float(today["open"]) if today is not None else 0.0,
            session_close=previous_close,
            session_aw=0.0,
            session_price_settlement=0.0,
            session_price_limit_min=0.0,
            session_price_limit_max=0.0,
            margin_hedged=spec.contract_size,
            price_change=change,
            price_volatility=0.0,
            price_theoretical=0.0,
            price_greeks_delta=0.0,
            price_greeks_theta=0.0,
            price_greeks_gamma=0.0,
            price_greeks_vega=0.0,
            price_greeks_rho=0.0,
            price_greeks_omega=0.0,
            price_sensitivity=0.0,
            basis="",
            category="",
            currency_base=spec.currency_base,
            currency_profit=spec.currency_profit,
            currency_margin=spec.currency_margin,
            bank="",
            description=spec.description,
            exchange="",
            formula="",
            isin="",
            name=spec.name,
            page="",
            path=spec.path,
        )

    def rate(self, source: str, target: str, now_ms: int) -> float:
        """Units of ``target`` per unit of ``source`` now (see :meth:`_rate`)."""
        return self._rate(source, target, now_ms)

    def _rate(self, source: str, target: str, now_ms: int) -> float:
        """Units of ``target`` per unit of ``source`` from this market's FX pairs, directly or through USD (1.0 when
        no pair links them)."""
        if source == target:
            return 1.0
        direct = self._direct_rate(source, target, now_ms)
        if direct is not None:
            return direct
        via = self._direct_rate(source, "USD", now_ms), self._direct_rate("USD", target, now_ms)
        return via[0] * via[1] if via[0] is not None and via[1] is not None else 1.0

    def _direct_rate(self, source: str, target: str, now_ms: int) -> float | None:
        if source == target:
            return 1.0
        if (source, target) not in self._pairs:
            self._pairs[source, target] = self._pair(source, target)
        found = self._pairs[source, target]
        if found is None:
            return None
        tick = self.tick(found[0], now_ms)
        if tick is None or not tick.bid:
            return None
        return tick.bid if found[1] else 1.0 / tick.bid

    def _pair(self, source: str, target: str) -> tuple[str, bool] | None:
        """The first Forex symbol quoting ``source`` against ``target`` either way round, and whether its bid is
        ``source`` in ``target``."""
        for name, market in self._symbols.items():
            spec = market.spec
            pair = (spec.currency_base, spec.currency_profit)
            if spec.path.startswith("Forex\\") and pair in ((source, target), (target, source)):
                return name, pair == (source, target)
        return None


def last_tick(market: SymbolMarket, now_ms: int) -> tuple[Records | None, int, int]:
    """The symbol's last tick at or before ``now_ms`` (``None`` before history starts, or before the current
    minute's first tick), and a span ``[since, until)`` of "now" that contains ``now_ms`` and gives the same answer."""
    now_hour = now_ms // 3_600_000
    index = int(market.calendar.before(now_hour + 1)) - 1  # the last trading hour at or before now
    hour = int(market.calendar.hour_at(index))
    hour_span = now_hour * 3_600_000, (now_hour + 1) * 3_600_000
    if hour * 3600 < HISTORY_START:
        return None, *hour_span
    if hour < now_hour:  # closed: the last tick of the last trading hour, until this hour ends at least
        ticks = market.minute_ticks(hour, 59)
        return (ticks[-1:] if len(ticks) else None), *hour_span
    minute_start = now_ms // 60_000 * 60_000
    ticks = market.minute_ticks(hour, (now_ms // 60_000) % 60)
    times = ticks["time_msc"]
    upto = int(np.searchsorted(times, now_ms, side="right"))
    since = int(times[upto - 1]) if upto else minute_start
    until = int(times[upto]) if upto < len(times) else minute_start + 60_000
    return (ticks[upto - 1 : upto] if upto else None), since, until


def _tick(row: Any) -> Tick:
    return Tick(
        time=int(row["time"]),
        bid=float(row["bid"]),
        ask=float(row["ask"]),
        last=float(row["last"]),
        volume=int(row["volume"]),
        time_msc=int(row["time_msc"]),
        flags=int(row["flags"]),
        volume_real=float(row["volume_real"]),
    )
