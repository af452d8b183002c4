"""The trading calendar: when history starts and which hours of the week trade (server time == UTC)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mt5_worker.simulator.market.noise import I64

HISTORY_START = 1_420_070_400  # 2015-01-01 00:00:00 server time
_SUNDAY_HOUR = 72  # 1970-01-04 00:00, the first Sunday of the epoch, in hours
_WEEK_HOURS = 168
_FX_SESSION = (22, 22 + 120)  # hours of the week from Sunday 00:00: Sunday 22:00 to Friday 22:00


class Calendar:
    """Which hours trade, counted in closed form: ``before(h)`` trading hours precede hour ``h`` (hours since
    the epoch), and ``hour_at(i)`` is the ``i``-th trading hour (both relative to an arbitrary but fixed origin)."""

    def __init__(self, always_open: bool) -> None:
        mask = np.ones(_WEEK_HOURS, dtype=bool)
        if not always_open:
            mask[:] = False
            mask[_FX_SESSION[0] : _FX_SESSION[1]] = True
        self.mask = mask
        self.cum = np.concatenate([[0], np.cumsum(mask)]).astype(np.int64)
        self.open_hours = np.flatnonzero(mask).astype(np.int64)
        self.per_week = int(mask.sum())

    def before(self, hours: npt.ArrayLike) -> I64:
        week, rest = np.divmod(np.asarray(hours, dtype=np.int64) - _SUNDAY_HOUR, _WEEK_HOURS)
        result: I64 = week * self.per_week + self.cum[rest]
        return result

    def hour_at(self, index: npt.ArrayLike) -> I64:
        week, rest = np.divmod(np.asarray(index, dtype=np.int64), self.per_week)
        result: I64 = _SUNDAY_HOUR + week * _WEEK_HOURS + self.open_hours[rest]
        return result

    def is_open(self, hours: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        result: npt.NDArray[np.bool_] = self.mask[(np.asarray(hours, dtype=np.int64) - _SUNDAY_HOUR) % _WEEK_HOURS]
        return result

    def hours_between(self, start_s: int, end_s: int) -> I64:
        """Trading hours whose start lies in ``[start_s, end_s)`` (seconds)."""
        first = self.before(-(-start_s // 3600))
        last = self.before(-(-end_s // 3600))
        return self.hour_at(np.arange(int(first), int(last), dtype=np.int64))
