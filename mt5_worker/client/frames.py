""":func:`to_frame`: a column-wise answer (rates, ticks) or a list of records (symbols, book, positions) as a pandas
``DataFrame`` (``pip install "mt5-worker[pandas]"``)."""

from __future__ import annotations

from typing import Any


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
