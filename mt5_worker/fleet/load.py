"""Each terminal's backlog as a router sees it: the worker's last report, drained at its reported rate, plus the
sends this router made since.

A worker reports, every ``MT5_LOAD_REPORT_INTERVAL``, how many requests it has waiting or running (its own queue
in the broker plus what it has reserved) and how many it started per second over the last interval
(:class:`LoadReport`, kept beside its heartbeat in the registry). A router reads the reports with the membership
it already caches, so a send costs no extra round trip; between readings it adds its own sends, which a report
cannot have counted yet. The estimate of a terminal's backlog now is then

    max(0, reported backlog + this router's sends since the report - reported rate x the report's age)

exact for one client and fresh reports; with several clients each sees the others' sends one report late.
A send counts until a report newer than it exists, and for at most :data:`SEND_MEMORY` seconds: a worker that
never reports (an older version) is not taken for ever busier.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

SEND_MEMORY = 60.0  # seconds a send counts toward a terminal's backlog without a report newer than it


@dataclass(frozen=True)
class LoadReport:
    """What a worker said about its terminal's backlog at ``at`` (unix time, the worker's clock)."""

    backlog: int  # requests in its own queue plus those it reserved (the running one included)
    rate: float  # requests it started per second over its last report interval
    at: float

    def encode(self) -> str:
        return f"{self.backlog} {self.rate:.3f} {self.at:.3f}"

    @classmethod
    def decode(cls, raw: str | bytes | None) -> LoadReport | None:
        """The report stored as ``encode()`` wrote it; None for anything else (a report is advisory)."""
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            backlog, rate, at = text.split()
            report = cls(int(backlog), float(rate), float(at))
        except ValueError:
            return None
        finite = math.isfinite(report.rate) and math.isfinite(report.at)
        return report if finite and report.backlog >= 0 and report.rate >= 0 else None


class LoadView:
    """Backlog estimates per terminal from the last reports and this process's own sends. Not thread-safe: the
    router calls it under its lock."""

    def __init__(self) -> None:
        self._reports: dict[str, LoadReport] = {}
        self._sent: dict[str, deque[float]] = {}  # terminal id -> times of this router's sends, oldest first

    def update(self, reports: Mapping[str, LoadReport]) -> None:
        """A new reading: the latest report of each live terminal (missing: it has not reported)."""
        self._reports = dict(reports)
        for terminal_id in list(self._sent):
            if terminal_id not in reports and not self._sent[terminal_id]:
                del self._sent[terminal_id]

    def sent(self, terminal_id: str, now: float) -> None:
        """This router has just sent a request to ``terminal_id``."""
        self._sent.setdefault(terminal_id, deque()).append(now)

    def estimate(self, terminal_id: str, now: float) -> int:
        """Requests ``terminal_id`` has waiting or running now, as far as this router can tell."""
        report = self._reports.get(terminal_id)
        since = max(report.at if report else -math.inf, now - SEND_MEMORY)
        sends = self._sent.get(terminal_id)
        while sends and sends[0] <= since:
            sends.popleft()
        own = len(sends) if sends else 0
        if report is None:
            return own
        drained = report.rate * max(0.0, now - report.at)
        return max(0, round(report.backlog + own - drained))

    def estimates(self, terminal_ids: Mapping[str, int], now: float) -> dict[str, int]:
        return {terminal_id: self.estimate(terminal_id, now) for terminal_id in terminal_ids}
