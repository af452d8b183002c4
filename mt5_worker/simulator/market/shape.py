"""The market's rhythm, shared by every symbol: how active each hour of the day is, how the spread widens around the
daily rollover, how ticks cluster in bursts within a minute, and the scales of the price anchor's noise."""

from __future__ import annotations

import numpy as np

# Relative activity by hour of day (ticks), and the spread widening around the daily rollover.
ACTIVITY = np.array(
    [
        *(0.5, 0.45, 0.45, 0.5, 0.55, 0.6, 0.7, 0.9, 1.2, 1.3, 1.25, 1.2),  # 00:00 to 11:00
        *(1.25, 1.5, 1.6, 1.55, 1.4, 1.2, 1.0, 0.85, 0.7, 0.5, 0.4, 0.45),  # 12:00 to 23:00
    ]
)
WIDEN = np.ones(24)
WIDEN[21], WIDEN[22], WIDEN[23] = 2.5, 1.8, 1.2

# With a tick rate (MT5_SIMULATOR_TICK_RATE) the market ticks in bursts, as real ones do: minutes' shares of their
# hour's ticks are lognormal (a few minutes hold several times the mean), and within a minute half the ticks fall
# in a few bursts of a few hundred milliseconds, where several share a millisecond.
MINUTE_SHARE_SIGMA = 1.0
BURSTS_PER_MINUTE = 3
BURST_SHARE = 0.5
BURST_WIDTH_MS = 300.0

# The anchor's scales in hours (value noise octaves) and the weight of each.
OCTAVES = tuple(3**k for k in range(9))  # 1 h .. 6561 h (~9 months)
OCTAVE_WEIGHT = 0.5
