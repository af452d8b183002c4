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

A bounded send needs the fleet's total as well as one terminal's estimate. :meth:`LoadView.total` computes it over
arrays built once per reading (numpy, the same arithmetic and rounding as :meth:`LoadView.estimate`), so its cost
per send is a few vector operations rather than a Python loop over every terminal (docs/capacity.md).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

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
        self._fleet: _FleetArrays | None = None  # the reading as arrays, for total()

    def update(self, reports: Mapping[str, LoadReport]) -> None:
        """A new reading: the latest report of each live terminal (missing: it has not reported)."""
        self._reports = dict(reports)
        self._fleet = None
        for terminal_id in list(self._sent):
            if terminal_id not in reports and not self._sent[terminal_id]:
                del self._sent[terminal_id]

    def sent(self, terminal_id: str, now: float) -> None:
        """This router has just sent a request to ``terminal_id``."""
        sends = self._sent.setdefault(terminal_id, deque())
        sends.append(now)
        if self._fleet is not None:
            self._fleet.counted(terminal_id, sends)

    def estimate(self, terminal_id: str, now: float) -> int:
        """Requests ``terminal_id`` has waiting or running now, as far as this router can tell."""
        report = self._reports.get(terminal_id)
        own = self._own(terminal_id, report, now)
        if report is None:
            return own
        drained = report.rate * max(0.0, now - report.at)
        return max(0, round(report.backlog + own - drained))

    def estimates(self, terminal_ids: Mapping[str, int], now: float) -> dict[str, int]:
        return {terminal_id: self.estimate(terminal_id, now) for terminal_id in terminal_ids}

    def total(self, terminal_ids: Mapping[str, int], now: float) -> int:
        """``sum(estimates(terminal_ids, now).values())``, without a Python loop over the terminals: arrays are
        built once per reading and set of ids (a router passes the same mapping until it reads again)."""
        fleet = self._fleet
        if fleet is None or fleet.ids is not terminal_ids:
            fleet = self._fleet = _FleetArrays(terminal_ids, self._reports, self._sent)
        for i in np.flatnonzero(fleet.oldest <= np.maximum(fleet.at, now - SEND_MEMORY)):
            terminal_id = fleet.names[i]  # some of its sends are now too old to count: forget them, as estimate()
            self._own(terminal_id, self._reports.get(terminal_id), now)
        return fleet.total(now)

    def _own(self, terminal_id: str, report: LoadReport | None, now: float) -> int:
        """This router's sends to ``terminal_id`` that no report can have counted yet (older ones forgotten)."""
        since = max(report.at if report else -math.inf, now - SEND_MEMORY)
        sends = self._sent.get(terminal_id)
        if not sends:
            return 0
        if sends[0] <= since:
            while sends and sends[0] <= since:
                sends.popleft()
            if self._fleet is not None:
                self._fleet.counted(terminal_id, sends)
        return len(sends)


class _FleetArrays:
    """One reading's reports and this router's unreported sends as arrays, aligned on ``ids``' order."""

    def __init__(
        self, ids: Mapping[str, int], reports: Mapping[str, LoadReport], sent: Mapping[str, deque[float]]
    ) -> None:
        self.ids = ids
        self.names = list(ids)
        self.index = {terminal_id: i for i, terminal_id in enumerate(self.names)}
        rows = [reports.get(terminal_id) for terminal_id in self.names]
        self.reported = np.array([r is not None for r in rows], dtype=bool)
        self.backlog = np.array([r.backlog if r else 0 for r in rows], dtype=np.int64)
        self.rate = np.array([r.rate if r else 0.0 for r in rows], dtype=np.float64)
        self.at = np.array([r.at if r else -math.inf for r in rows], dtype=np.float64)  # -inf: no report
        self.drain_from = np.where(self.reported, self.at, 0.0)  # (no report: rate 0, nothing drained)
        self.own = np.zeros(len(self.names), dtype=np.int64)
        self.oldest = np.full(len(self.names), math.inf)  # each terminal's oldest counted send
        for terminal_id, sends in sent.items():
            self.counted(terminal_id, sends)

    def counted(self, terminal_id: str, sends: deque[float]) -> None:
        i = self.index.get(terminal_id)
        if i is not None:
            self.own[i] = len(sends)
            self.oldest[i] = sends[0] if sends else math.inf

    def total(self, now: float) -> int:
        # estimate()'s arithmetic, element by element: the same float operations, and numpy's rint rounds half
        # to even as round() does.
        drained = self.rate * np.maximum(0.0, now - self.drain_from)
        reported = np.maximum(0.0, np.rint((self.backlog + self.own) - drained))
        return int(np.where(self.reported, reported, self.own).sum())
