"""The three levels' rows (hours, minutes) and their aggregation into bars: OHLC pieces in time order,
reduced into groups and written into rates records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mt5_worker.simulator.market.noise import F64, I64
from mt5_worker.terminal.arrays import Records


@dataclass
class Hours:
    """Per trading hour: OHLC, tick count, minimum spread, and the minutes that hold the high and the low."""

    hour: I64
    open: F64
    high: F64
    low: F64
    close: F64
    count: I64
    spread: I64
    high_at: I64
    low_at: I64


@dataclass
class Minutes:
    """Per minute of some trading hours: arrays of shape (hours, 60)."""

    hours: Hours
    open: F64
    high: F64
    low: F64
    close: F64
    count: I64
    spread: I64


@dataclass
class Pieces:
    """OHLC rows in time order, to be aggregated into bars."""

    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    count: I64
    spread: I64

    @staticmethod
    def empty() -> Pieces:
        f, i = np.empty(0, np.float64), np.empty(0, np.int64)
        return Pieces(i, f, f, f, f, i, i)

    @staticmethod
    def concat(parts: Sequence[Pieces]) -> Pieces:
        return Pieces(*(np.concatenate([getattr(p, name) for p in parts]) for name in _PIECE_FIELDS))


_PIECE_FIELDS = ("time", "open", "high", "low", "close", "count", "spread")


def hour_pieces(hs: Hours) -> Pieces:
    return Pieces(hs.hour * 3600, hs.open, hs.high, hs.low, hs.close, hs.count, hs.spread)


def minute_pieces(ms: Minutes, rows: I64, mins: I64) -> Pieces:
    time = (ms.hours.hour[rows] * 60 + mins) * 60
    return Pieces(
        time,
        ms.open[rows, mins],
        ms.high[rows, mins],
        ms.low[rows, mins],
        ms.close[rows, mins],
        ms.count[rows, mins],
        ms.spread[rows, mins],
    )


def tick_pieces(ticks: Records, point: float) -> Pieces:
    """Some ticks of one minute as a single row."""
    bid = ticks["bid"]
    spreads = np.round((ticks["ask"] - bid) / point).astype(np.int64)
    return Pieces(
        np.array([int(ticks["time"][0]) // 60 * 60]),
        bid[:1].copy(),
        np.array([bid.max()]),
        np.array([bid.min()]),
        bid[-1:].copy(),
        np.array([len(ticks)]),
        np.array([spreads.min()]),
    )


def reduce_pieces(p: Pieces, bounds: I64) -> Pieces:
    """Aggregate consecutive rows into groups starting at ``bounds``."""
    ends = np.concatenate([bounds[1:], [len(p.time)]]) - 1
    return Pieces(
        p.time[bounds],
        p.open[bounds],
        np.maximum.reduceat(p.high, bounds),
        np.minimum.reduceat(p.low, bounds),
        p.close[ends],
        np.add.reduceat(p.count, bounds),
        np.minimum.reduceat(p.spread, bounds),
    )


def fill(out: Records, p: Pieces) -> None:
    out["open"] = p.open
    out["high"] = p.high
    out["low"] = p.low
    out["close"] = p.close
    out["tick_volume"] = p.count
    out["spread"] = p.spread
