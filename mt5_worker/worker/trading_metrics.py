"""Trading metrics: each order attempt's outcome, and the idempotency keys not done, fleet-wide.

Outcomes come from the :class:`~mt5_worker.fleet.order_desk.OrderDesk` of this process (``done``: this attempt
sent the order; ``reconciled``: found in the account after a takeover; ``recorded``: a repeated request answered
from its record; ``refused``; ``unknown``: the order may have left, the next attempt reconciles; ``in_progress``:
another attempt holds the key; ``taken_over``). The keys not done are read from the journal's indexes at scrape
time, one Redis round trip: the same fleet-wide figures on every worker (aggregate them with ``max``). While Redis
does not answer, a scrape leaves those series out rather than fail.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mt5_worker.fleet.order_journal import OrderJournal

OUTCOMES = ("done", "reconciled", "recorded", "refused", "unknown", "in_progress", "taken_over")


class TradingMetrics(Collector):
    def __init__(self, registry: CollectorRegistry, journal: OrderJournal) -> None:
        self._journal = journal
        self._lock = threading.Lock()
        self._outcomes: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
        registry.register(self)

    def count(self, outcome: str) -> None:
        """One order attempt ended with ``outcome`` (an ``OrderDesk`` outcome hook)."""
        with self._lock:
            self._outcomes[outcome if outcome in OUTCOMES else "other"] += 1

    def collect(self) -> Iterator[Metric]:
        outcomes = CounterMetricFamily("mt5_trade_outcomes", "Order attempts by outcome", labels=["outcome"])
        with self._lock:
            for outcome, value in sorted(self._outcomes.items()):
                outcomes.add_metric([outcome], value)
        yield outcomes
        try:
            found = self._journal.open_keys()
        except redis.RedisError:
            return
        keys = GaugeMetricFamily(
            "mt5_trading_keys",
            "Idempotency keys not done, fleet-wide: pending (lease live), lease_expired, unknown",
            labels=["state"],
        )
        keys.add_metric(["pending"], found.pending)
        keys.add_metric(["lease_expired"], found.lease_expired)
        keys.add_metric(["unknown"], found.unknown)
        yield keys
        oldest = GaugeMetricFamily(
            "mt5_trading_key_oldest_age_seconds",
            "Seconds the oldest key has been unknown, or past its lease (0: none)",
            labels=["state"],
        )
        oldest.add_metric(["lease_expired"], found.oldest_lease_expired_age or 0.0)
        oldest.add_metric(["unknown"], found.oldest_unknown_age or 0.0)
        yield oldest
