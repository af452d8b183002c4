"""The SDK's bars and ticks: numpy structured arrays, and their column layouts.

``copy_rates_*`` and ``copy_ticks_*`` answer arrays (never records); each adapter hands them on as the SDK makes
them, with exactly these columns. Kept apart from :mod:`~mt5_worker.terminal.records` so that only the code that
handles arrays imports numpy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# copy_rates_*: one row per bar. The SDK's layout (mt5copyratesfrom_py names the columns; recorded outputs show
# the types): bar open time in seconds, Bid (or Last) prices, tick count, spread in points, exchange volume.
RATES_DTYPE = np.dtype(
    [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<u8"),
        ("spread", "<i4"),
        ("real_volume", "<u8"),
    ]
)

# copy_ticks_*: one row per tick. The page lists five columns; its own example output (and recorded outputs)
# show these eight.
TICKS_DTYPE = np.dtype(
    [
        ("time", "<i8"),
        ("bid", "<f8"),
        ("ask", "<f8"),
        ("last", "<f8"),
        ("volume", "<u8"),
        ("time_msc", "<i8"),
        ("flags", "<u4"),
        ("volume_real", "<f8"),
    ]
)

# The column layout of each kind of array the SDK table names (mt5_worker.terminal.functions.Returns.array).
DTYPES: dict[str, np.dtype[np.void]] = {"rates": RATES_DTYPE, "ticks": TICKS_DTYPE}

# A structured array of RATES_DTYPE or TICKS_DTYPE rows.
Records = npt.NDArray[np.void]
