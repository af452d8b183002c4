"""Each terminal's backlog as a router sees it: the worker's last report, drained at its reported rate, plus the
sends this router made since.

A worker reports, every ``MT5_LOAD_REPORT_INTERVAL``, how many requests it has waiting or running (its own queue
in the broker plus what it has reserved) and how many it started per second over the last interval
(:class:`LoadReport`, kept beside its heartbeat in the registry). A router reads the reports with the membership
it already caches, so a send costs no extra round trip; between readings it adds its own sends, which a report
cannot have counted yet. The estimate of a terminal's backlog now is then

    max(0, reported backlog + this router's sends since the report - served since the report)

where "served" is the reported rate x the report's age, or, when the terminal reported no rate (it was idle), the
answers this router's client has had from it since the report (:meth:`LoadView.answered`; clients that wait for
their results say so). The rate alone would leave a burst sent to an idle terminal counted as waiting until its
next report, long after it was answered. Where a rate was reported the answers are not used: counting them there
too (the larger of the two) spills less under load, and in the capacity model that raised the defaults' p99 in
P5's hot regime by 12% and the terminals polling traffic needs by 7% (docs/performance.md). With several clients
each sees the others' sends one report late. A send or an answer counts until a report newer than it exists, and
for at most :data:`SEND_MEMORY` seconds: a worker that never reports (an older version) is not taken for ever
busier.

Adaptive routing also sends to the shared queue, which no one terminal owns: whichever worker reserves such a
request counts it in its next report. Until then the router counts it in the fleet's total (in no terminal's
estimate): until every terminal that reports has reported after it, and for at most :data:`SEND_MEMORY` seconds.
The shared queue's messages not yet reserved by any worker are in no report (a worker reserves up to its
prefetch, so they wait only while the whole fleet is past it).

A bounded send needs the fleet's total as well as one terminal's estimate. :meth:`LoadView.total` keeps it without
a loop over every terminal per send: each terminal's estimate is stored and changes only at known moments (a send to
it, one of its sends growing too old to count, its report drained below the next half request), so only those are
computed again, each exactly as :meth:`LoadView.estimate` does; a new reading, or a clock that went back, starts
over (docs/capacity.md).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeGuard

SEND_MEMORY = 60.0  # seconds a send counts toward a terminal's backlog without a report newer than it
# How early the fleet's total looks at a terminal again before its estimate is due to change: 40 times the float
# error of predicting that moment (a few ulps of a unix time, 2.4e-7 s), and the estimate is recomputed exactly
# when looked at, so looking early costs a recomputation and never a wrong total.
EARLY = 1e-5


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
        self._answered: dict[str, deque[float]] = {}  # terminal id -> times its answers came, oldest first
        self._fleet: _FleetTotal | None = None  # the running total over one reading's terminals, for total()
        self._shared: deque[float] = deque()  # times of this router's sends to the shared queue, oldest first
        self._all_reported = -math.inf  # the oldest of the last reports: later shared sends are in none for sure

    def update(self, reports: Mapping[str, LoadReport]) -> None:
        """A new reading: the latest report of each live terminal (missing: it has not reported)."""
        self._reports = dict(reports)
        self._fleet = None
        self._all_reported = min((report.at for report in self._reports.values()), default=-math.inf)
        for times in (self._sent, self._answered):
            for terminal_id in list(times):
                if terminal_id not in reports and not times[terminal_id]:
                    del times[terminal_id]

    def sent(self, terminal_id: str, now: float) -> None:
        """This router has just sent a request to ``terminal_id``."""
        self._sent.setdefault(terminal_id, deque()).append(now)
        if self._fleet is not None:
            self._fleet.changed(terminal_id)

    def answered(self, terminal_id: str, now: float) -> None:
        """A request this router sent to ``terminal_id`` has just been answered: it is served, whatever the
        reported rate says."""
        answers = self._answered.setdefault(terminal_id, deque())
        # Kept short here too: a terminal's estimate may go unasked for a long time while its answers keep coming.
        _forget(answers, now - SEND_MEMORY)
        answers.append(now)
        if self._fleet is not None:
            self._fleet.changed(terminal_id)

    def sent_shared(self, now: float) -> None:
        """This router has just sent a request to the shared queue (counted in :meth:`total` only)."""
        self._shared.append(now)

    def shared(self, now: float) -> int:
        """This router's sends to the shared queue that a report may not have counted yet (see the module doc)."""
        _forget(self._shared, max(self._all_reported, now - SEND_MEMORY))
        return len(self._shared)

    def estimate(self, terminal_id: str, now: float) -> int:
        """Requests ``terminal_id`` has waiting or running now, as far as this router can tell."""
        report = self._reports.get(terminal_id)
        own = self._own(terminal_id, report, now, self._sent)
        if _rate_reported(report):  # the evidence of service
            return max(0, round(report.backlog + own - report.rate * max(0.0, now - report.at)))
        answers = self._own(terminal_id, report, now, self._answered)
        return max(0, (report.backlog if report else 0) + own - answers)

    def estimates(self, terminal_ids: Mapping[str, int], now: float) -> dict[str, int]:
        return {terminal_id: self.estimate(terminal_id, now) for terminal_id in terminal_ids}

    def total(self, terminal_ids: Mapping[str, int], now: float) -> int:
        """``sum(estimates(terminal_ids, now).values())`` plus :meth:`shared`, computing again only the estimates
        that can have changed since the last call (a router passes the same mapping until it reads again)."""
        fleet = self._fleet
        if fleet is None or fleet.ids is not terminal_ids or now < fleet.now:
            fleet = self._fleet = _FleetTotal(self, terminal_ids)
        return fleet.at(now) + self.shared(now)

    def next_change(self, terminal_id: str, value: int) -> float:
        """The first moment ``terminal_id``'s estimate, ``value`` now, can change without a send or an answer: its
        oldest send or counted answer stops counting, or its report drains below ``value`` - 0.5 (``estimate()``
        rounds)."""
        report, sends = self._reports.get(terminal_id), self._sent.get(terminal_id)
        answers = None if _rate_reported(report) else self._answered.get(terminal_id)
        moment = sends[0] + SEND_MEMORY if sends else math.inf
        if answers:
            moment = min(moment, answers[0] + SEND_MEMORY)
        if report is not None and report.rate > 0 and value > 0:
            drained_below = report.at + (report.backlog + len(sends or ()) - value + 0.5) / report.rate
            moment = min(moment, drained_below)
        return moment

    def _own(self, terminal_id: str, report: LoadReport | None, now: float, times: dict[str, deque[float]]) -> int:
        """This router's sends to (or answers from) ``terminal_id`` that no report can have counted yet (older ones
        forgotten)."""
        since = max(report.at if report else -math.inf, now - SEND_MEMORY)
        recent = times.get(terminal_id)
        if not recent:
            return 0
        if _forget(recent, since) and self._fleet is not None:
            self._fleet.changed(terminal_id)
        return len(recent)


def _forget(times: deque[float], until: float) -> bool:
    """Drop the times at or before ``until`` from ``times`` (oldest first); whether any were dropped."""
    if not times or times[0] > until:
        return False
    while times and times[0] <= until:
        times.popleft()
    return True


def _rate_reported(report: LoadReport | None) -> TypeGuard[LoadReport]:
    """Whether a terminal's estimate drains at its reported rate. Otherwise (no report, or a terminal that started
    nothing in its last interval) this router's answers are the only evidence of service, and count instead."""
    return report is not None and report.rate > 0


class _FleetTotal:
    """The sum of a :class:`LoadView`'s estimates over ``ids``, each stored and computed again only when it may
    have changed: after a send or a forgotten send (``changed``), or when :meth:`LoadView.next_change` says its
    report has drained to the next value (a heap of those moments, taken :data:`EARLY`)."""

    def __init__(self, view: LoadView, ids: Mapping[str, int]) -> None:
        self.ids, self.view = ids, view
        self.now = -math.inf
        self.values: dict[str, int] = {}
        self.total = 0
        self.versions: dict[str, int] = {}
        self.due: list[tuple[float, int, str]] = []  # (moment, version, terminal id); older versions are stale
        self.stale: set[str] = set(ids)

    def changed(self, terminal_id: str) -> None:
        if terminal_id in self.ids:
            self.stale.add(terminal_id)

    def at(self, now: float) -> int:
        while self.due and self.due[0][0] <= now:
            _, version, terminal_id = heapq.heappop(self.due)
            if self.versions.get(terminal_id) == version:
                self.stale.add(terminal_id)
        while self.stale:
            self._compute(self.stale.pop(), now)
        self.now = now
        return self.total

    def _compute(self, terminal_id: str, now: float) -> None:
        value = self.view.estimate(terminal_id, now)
        self.stale.discard(terminal_id)  # estimate() may have forgotten sends: already counted in ``value``
        self.total += value - self.values.get(terminal_id, 0)
        self.values[terminal_id] = value
        version = self.versions[terminal_id] = self.versions.get(terminal_id, 0) + 1
        moment = self.view.next_change(terminal_id, value) - EARLY
        if moment < math.inf:
            heapq.heappush(self.due, (max(moment, math.nextafter(now, math.inf)), version, terminal_id))
